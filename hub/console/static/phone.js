/* The phone view's resend: a form marked data-resend is sent by fetch; when the signal drops
   (no answer, or the hub unreachable) the same body is sent again a few times, then the person
   is told, in Chinese, to press again once the signal is back. The body is built once, so every
   try carries the same clientId and the same send time: the hub gives back the same patrol,
   finding or diary, never a second one. A photo chosen in a form marked data-upload is sent
   to the hub at once (with the same resend) and the form then names it by id.
   No library, no other host. */
(function () {
  "use strict";
  var WAITS = [1000, 2000, 4000, 8000]; // four resends after the first try
  var TIMEOUT = 20000;

  function tell(text, kind) {
    var box = document.getElementById("net");
    if (!box) return;
    box.textContent = text;
    box.className = "net " + (kind || "");
    box.hidden = !text;
  }

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  function once(url, body) {
    var ctl = window.AbortController ? new AbortController() : null;
    var timer = ctl ? setTimeout(function () { ctl.abort(); }, TIMEOUT) : null;
    return fetch(url, {
      method: "POST", body: body, credentials: "same-origin", redirect: "follow",
      headers: { "X-Requested-With": "phone" }, signal: ctl ? ctl.signal : undefined
    }).finally(function () { if (timer) clearTimeout(timer); });
  }

  // Resend the same body until the hub answers (any answer below 500 is final).
  async function send(url, body, what) {
    for (var i = 0; ; i++) {
      try {
        var answer = await once(url, body);
        if (answer.status < 500 || answer.status === 501) return answer;
      } catch (e) { /* no signal: fall through to wait and resend */ }
      if (i >= WAITS.length) return null;
      tell("网络不稳定，" + what + "正在第 " + (i + 1) + " 次重新发送……（内容不会重复记录）", "warn");
      await sleep(WAITS[i]);
    }
  }

  function stamp(form) {
    form.querySelectorAll("[data-stamp]").forEach(function (input) {
      if (!input.value) input.value = new Date().toISOString();
    });
  }

  function show(answer, html) {
    // The hub's answer is a whole page (the next page, or the form with its Chinese error).
    if (answer.url) history.replaceState(null, "", answer.url);
    document.open();
    document.write(html);
    document.close();
  }

  function bindForm(form) {
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      if (form.dataset.busy) return;
      form.dataset.busy = "1";
      stamp(form);
      var body = new FormData(form); // built once: every resend is the same body
      var button = form.querySelector("button[type=submit]");
      if (button) button.disabled = true;
      tell("正在发送……", "");
      var answer = await send(form.action, body, "表单");
      if (answer === null) {
        tell("发送失败：网络中断。已填写的内容还在，恢复信号后请再点一次提交（不会重复记录）。", "bad");
        delete form.dataset.busy;
        if (button) button.disabled = false;
        return;
      }
      show(answer, await answer.text());
    });
  }

  function bindUpload(input) {
    var form = input.form;
    var ids = form.querySelector("input[name=attachment_ids]");
    var list = form.querySelector("[data-photos]");
    input.addEventListener("change", async function () {
      var file = input.files && input.files[0];
      if (!file) return;
      var body = new FormData();
      body.append("csrf_token", form.querySelector("input[name=csrf_token]").value);
      body.append("file", file);
      tell("正在上传照片……", "");
      var answer = await send(input.dataset.upload, body, "照片");
      if (answer === null) {
        tell("照片上传失败：网络中断。恢复信号后请重新选择照片。", "bad");
        return;
      }
      var reply = {};
      try { reply = await answer.json(); } catch (e) { reply = {}; }
      if (!answer.ok || !reply.id) {
        var why = reply.errors && reply.errors[0] ? reply.errors[0].message : "照片上传失败（" + answer.status + "）";
        tell(why, "bad");
        input.value = "";
        return;
      }
      var known = ids.value ? ids.value.split(",") : [];
      if (known.indexOf(reply.id) < 0) known.push(reply.id);
      ids.value = known.join(",");
      input.value = ""; // the form names the photo by id; its bytes are not sent again
      if (list) list.textContent = "已上传 " + known.length + " 张照片";
      tell("照片已上传", "ok");
    });
  }

  document.querySelectorAll("form[data-resend]").forEach(bindForm);
  document.querySelectorAll("input[type=file][data-upload]").forEach(bindUpload);
  window.addEventListener("offline", function () { tell("当前没有网络信号，提交时会自动重发", "warn"); });
  window.addEventListener("online", function () { tell("", ""); });
})();
