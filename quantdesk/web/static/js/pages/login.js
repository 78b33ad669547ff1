// #/login: the OAuth2 password form of POST /api/auth/token.

import { login } from "../api.js";
import { h, replace } from "../dom.js";

export function mount(root) {
  const error = h("p", { class: "error", id: "login-error", role: "alert" });
  const username = h("input", {
    id: "username",
    name: "username",
    autocomplete: "username",
    required: true,
    maxlength: 64,
  });
  const password = h("input", {
    id: "password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
    maxlength: 256,
  });
  const submit = h("button", { type: "submit", id: "login-submit" }, "Log in");
  const form = h(
    "form",
    { class: "login card", id: "login-form" },
    h("h1", {}, "quantdesk"),
    h("p", { class: "muted" }, "Real-time quantitative stock platform"),
    h("label", { for: "username" }, "Username"),
    username,
    h("label", { for: "password" }, "Password"),
    password,
    submit,
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    try {
      await login(username.value.trim(), password.value);
      location.hash = "#/market";
    } catch (err) {
      error.textContent = err.message;
    } finally {
      submit.disabled = false;
    }
  });
  replace(root, h("div", { class: "login-wrap" }, form));
  username.focus();
  return () => {};
}
