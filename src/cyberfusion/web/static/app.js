// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // A select marked data-autosubmit sends its form on change (the submit button stays for keyboards).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
    sel.addEventListener("change", function () { sel.form.submit(); });
  });

  // Buttons marked data-confirm ask before sending.
  document.querySelectorAll("[data-confirm]").forEach(function (el) {
    el.addEventListener("click", function (ev) {
      if (!window.confirm(el.getAttribute("data-confirm"))) { ev.preventDefault(); }
    });
  });

  // Slow dashboard panels arrive after the page (without scripts they are a link to their own page).
  document.querySelectorAll("[data-fragment]").forEach(function (box) {
    var body = box.querySelector(".fragment-body");
    if (!body || !window.fetch) { return; }
    body.textContent = "Loading…";
    window.fetch(box.getAttribute("data-fragment"), {credentials: "same-origin"})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
      .then(function (html) { body.innerHTML = html; box.removeAttribute("aria-busy"); })
      .catch(function () { body.textContent = "Could not load this panel; reload the page to try again."; });
  });

  // Forms marked data-progress upload with a progress bar (large contributions).
  document.querySelectorAll("form[data-progress]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      var file = form.querySelector("input[type=file]");
      if (!file || !file.files || !file.files.length || !window.FormData) { return; }
      ev.preventDefault();
      var bar = document.getElementById(form.getAttribute("data-progress"));
      var status = document.getElementById(form.getAttribute("data-progress") + "-status");
      if (bar) { bar.hidden = false; bar.value = 0; }
      var data = new FormData(form);
      var submitter = ev.submitter;
      if (submitter && submitter.name) { data.append(submitter.name, submitter.value); }
      var action = (submitter && submitter.getAttribute("formaction")) || form.getAttribute("action");
      var xhr = new XMLHttpRequest();
      xhr.open("POST", action);
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable && bar) {
          bar.value = Math.round(100 * e.loaded / e.total);
          if (status) { status.textContent = "Uploading: " + bar.value + "%"; }
        }
      });
      xhr.upload.addEventListener("load", function () {
        if (status) { status.textContent = "Uploaded. Checking every object…"; }
        if (bar) { bar.removeAttribute("value"); }
      });
      xhr.addEventListener("load", function () {
        if (xhr.responseURL && new URL(xhr.responseURL).pathname !== action) {
          window.location.assign(xhr.responseURL);
          return;
        }
        document.open();
        document.write(xhr.responseText);
        document.close();
      });
      xhr.addEventListener("error", function () {
        if (status) { status.textContent = "The upload failed; check the connection and try again."; }
      });
      xhr.send(data);
    });
  });

  // A contribution checked or stored in the background: poll its progress, then show the outcome
  // (without scripts the page refreshes itself).
  document.querySelectorAll("[data-import-status]").forEach(function (box) {
    if (!window.fetch) { return; }
    var count = box.querySelector("#import-count strong");
    var poll = function () {
      window.fetch(box.getAttribute("data-import-status"), {credentials: "same-origin", cache: "no-store"})
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
        .then(function (s) {
          if (count) { count.textContent = String(s.items); }
          if (s.state === "running") { window.setTimeout(poll, 700); return; }
          window.location.replace(box.getAttribute("data-import-page"));
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    };
    window.setTimeout(poll, 300);
  });
})();
