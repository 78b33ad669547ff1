from tests.unit.sentiment.conftest import model, resolver, trained_dir

__all__ = ["model", "resolver", "trained_dir"]
