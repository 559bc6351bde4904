"""The upload widget (st.components.v2): the browser picks a file and streams it to the upload
route with a progress bar (bytes and speed) and a cancel button; Python gets back what happened.

The browser checks the name and size before sending a byte and reports a refusal to Python,
which words it with the ingest service's messages; the server checks both again.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from services.upload.sessions import SESSION_HEADER, TOKEN_HEADER, UPLOAD_PATH

HTML = """
<div class="fw-upload" data-testid="fwUpload">
  <label class="fw-drop" data-testid="fwUploadDropzone">
    <input type="file" data-testid="fwUploadInput">
    <span class="fw-pick">Choose a video file</span>
    <span class="fw-hint"></span>
  </label>
  <div class="fw-progress" hidden>
    <div class="fw-row"><span class="fw-name"></span>
      <button type="button" class="fw-cancel" data-testid="fwUploadCancel">Cancel</button></div>
    <progress max="1" value="0" data-testid="fwUploadProgress"></progress>
    <div class="fw-status" data-testid="fwUploadStatus" aria-live="polite"></div>
  </div>
</div>
"""

CSS = """
.fw-upload { font-family: var(--st-font); color: var(--st-text-color); }
.fw-drop { display: flex; gap: 1rem; align-items: center; padding: 1rem;
  border: 1px dashed var(--st-border-color); border-radius: var(--st-base-radius);
  background: var(--st-secondary-background-color); cursor: pointer; }
.fw-drop.fw-over { border-color: var(--st-primary-color); }
.fw-drop input { display: none; }
.fw-pick { padding: .35rem .8rem; border-radius: var(--st-button-radius);
  border: 1px solid var(--st-border-color); background: var(--st-background-color); }
.fw-hint { opacity: .7; font-size: .9em; }
.fw-progress { margin-top: .6rem; }
.fw-row { display: flex; justify-content: space-between; align-items: center; gap: 1rem; }
.fw-progress progress { width: 100%; height: .6rem; accent-color: var(--st-primary-color); }
.fw-status { font-size: .9em; opacity: .8; }
"""

# Re-run with every new `data` (a fresh token each page run); an upload in flight keeps its own
# token and survives re-runs. The returned clean-up runs when the widget leaves the page.
JS = """
const MB = 1024 * 1024;
const mb = (n) => (n / MB).toLocaleString("en-US", {minimumFractionDigits: 1,
                                                     maximumFractionDigits: 1});

export default function (component) {
  const { parentElement, data, setTriggerValue } = component;
  const root = parentElement.querySelector(".fw-upload");
  const state = root.fw || (root.fw = { xhr: null });
  state.data = data;
  const $ = (sel) => root.querySelector(sel);
  const input = $("input"), drop = $(".fw-drop"), box = $(".fw-progress");
  input.accept = data.suffixes.join(",");
  $(".fw-hint").textContent =
    `${data.suffixes.join(", ")} · up to ${data.limit_mb.toLocaleString("en-US")} MB`;

  const report = (kind, file, message) => setTriggerValue("event", {
    kind, name: file ? file.name : "", size: file ? file.size : 0, message: message || "" });

  const send = (file) => {
    if (state.xhr) return;  // one upload at a time per page
    const d = state.data;
    const known = d.suffixes.some((s) => file.name.toLowerCase().endsWith(s));
    if (!known || file.size > d.limit_bytes) { report("refused", file); return; }
    const xhr = new XMLHttpRequest();
    state.xhr = xhr;
    box.hidden = false; drop.hidden = true;
    $(".fw-name").textContent = file.name;
    const bar = $("progress"), status = $(".fw-status");
    const started = performance.now();
    let last = { t: started, loaded: 0 }, speed = 0;
    xhr.upload.onprogress = (e) => {
      const now = performance.now();
      if (now - last.t > 500) {
        speed = (e.loaded - last.loaded) / ((now - last.t) / 1000);
        last = { t: now, loaded: e.loaded };
      }
      bar.value = e.total ? e.loaded / e.total : 0;
      status.textContent = `${mb(e.loaded)} MB of ${mb(file.size)} MB` +
        (speed ? ` · ${mb(speed)} MB/s` : "");
    };
    xhr.upload.onload = () => {
      bar.removeAttribute("value");
      status.textContent = `${mb(file.size)} MB sent · storing and probing the video…`;
    };
    const done = (kind, message) => {
      state.xhr = null; box.hidden = true; drop.hidden = false; input.value = "";
      report(kind, file, message);
    };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = {}; }
      if (body.recorded) done("finished");
      else done("failed", body.error || `the server answered ${xhr.status}`);
    };
    xhr.onerror = () => done("failed", "the connection to the server broke: nothing was stored");
    xhr.onabort = () => done("cancelled");
    xhr.open("POST", `${d.url}?name=${encodeURIComponent(file.name)}`);
    xhr.setRequestHeader(d.token_header, d.token);
    xhr.setRequestHeader(d.session_header, d.session_id);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.send(file);  // the browser streams the file from disk
  };

  if (!state.bound) {
    state.bound = true;
    input.addEventListener("change", () => { if (input.files[0]) send(input.files[0]); });
    $(".fw-cancel").addEventListener("click", () => state.xhr && state.xhr.abort());
    drop.addEventListener("dragover", (e) => {
      e.preventDefault(); drop.classList.add("fw-over");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("fw-over"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault(); drop.classList.remove("fw-over");
      if (e.dataTransfer.files[0]) send(e.dataTransfer.files[0]);
    });
  }
  return () => { if (state.xhr) state.xhr.abort(); };
}
"""

_WIDGET = st.components.v2.component("framewise_upload", html=HTML, css=CSS, js=JS)


@dataclass(frozen=True)
class UploadEvent:
    """What the widget reports: refused (before sending), finished, failed or cancelled."""

    kind: str
    name: str
    size: int
    message: str


def page_session_id() -> str:
    """The id of the Streamlit session running this page (one per browser tab)."""
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx else ""


def upload_widget_ui(*, token: str, session_id: str, max_bytes: int,
                     suffixes: tuple[str, ...]) -> UploadEvent | None:
    """Draw the upload widget; returns the event of an upload that just ended, if any."""
    result = _WIDGET(
        key="video_upload",
        data={
            "url": UPLOAD_PATH, "token": token, "session_id": session_id,
            "token_header": TOKEN_HEADER, "session_header": SESSION_HEADER,
            "limit_bytes": max_bytes, "limit_mb": max_bytes // (1024 * 1024),
            "suffixes": list(suffixes),
        },
        on_event_change=lambda: None,  # a reported upload reruns the page
    )
    event = getattr(result, "event", None)
    if not isinstance(event, dict):
        return None
    return UploadEvent(str(event.get("kind", "")), str(event.get("name", "")),
                       int(event.get("size") or 0), str(event.get("message", "")))
