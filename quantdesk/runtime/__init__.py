"""Runtime: the runner of ``quantdesk run`` (:mod:`.runner`, :mod:`.platform`), its
checkpoints (:mod:`.checkpoint`), the stream processor and consumer shared with the
Kafka worker (:mod:`.pipeline`, :mod:`.consumer`, :mod:`.worker`), clocks, sinks and the
API server configuration."""
