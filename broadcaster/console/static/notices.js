// The notice form, made quicker to use (it works without this file: the confirmation
// page shows the same count and preview).
// - A counter under each text, in LINE's units: UTF-16 code units (a JavaScript string's
//   length), against LINE's 5,000.
// - Buttons insert a template variable at the cursor of the text last typed in.
// - As the form changes, it is posted to data-look and the answer (count, breakdown,
//   LINE-style preview per language) replaces #look.
// - Only the repeat controls that apply to the chosen repeat are shown.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("notice-form");
  if (!form) return;

  const counters = [...form.querySelectorAll("textarea[data-counter]")];
  const count = (area) => {
    const out = document.getElementById(area.dataset.counter);
    if (!out) return;
    const limit = Number(out.dataset.limit) || 5000;
    const units = area.value.length;
    out.textContent = `${units.toLocaleString("ja-JP")} / ${limit.toLocaleString("ja-JP")} 文字（LINEの数え方。絵文字は2文字分）`;
    out.classList.toggle("over", units > limit);
  };
  counters.forEach((area) => { count(area); area.addEventListener("input", () => count(area)); });

  let target = document.getElementById("f-text");
  counters.forEach((area) => area.addEventListener("focus", () => { target = area; }));
  form.querySelectorAll("button[data-insert]").forEach((button) => {
    button.addEventListener("click", () => {
      if (!target) return;
      const code = button.dataset.insert;
      const start = target.selectionStart ?? target.value.length;
      const end = target.selectionEnd ?? start;
      target.value = target.value.slice(0, start) + code + target.value.slice(end);
      target.focus();
      target.setSelectionRange(start + code.length, start + code.length);
      target.dispatchEvent(new Event("input", { bubbles: true }));
    });
  });

  const repeat = document.getElementById("f-repeat");
  const showRepeat = () => {
    form.querySelectorAll(".repeat-opt").forEach((part) => {
      part.hidden = !part.dataset.repeats.split(" ").includes(repeat.value);
    });
  };
  if (repeat) { showRepeat(); repeat.addEventListener("change", showRepeat); }

  const panel = document.getElementById("look");
  const token = form.querySelector("input[name=csrf_token]");
  let timer = null;
  let asked = 0;
  const refresh = async () => {
    const mine = ++asked;
    const body = new FormData(form);
    body.delete("csrf_token");
    try {
      const response = await fetch(form.dataset.look, {
        method: "POST", body, headers: { "X-CSRF-Token": token ? token.value : "" },
      });
      if (response.ok && mine === asked) {
        panel.innerHTML = await response.text();
        const figure = panel.querySelector("[data-recipients]");
        const live = document.getElementById("live-count");
        if (live) {
          live.textContent = figure
            ? `届く人数：${Number(figure.dataset.recipients).toLocaleString("ja-JP")} 人`
            : "このままでは送れません（右または下の「届く人数と文面」を見てください）";
        }
      }
    } catch (error) { /* the next change asks again */ }
  };
  const later = () => { window.clearTimeout(timer); timer = window.setTimeout(refresh, 400); };
  form.addEventListener("input", later);
  form.addEventListener("change", later);
  if (panel) refresh();
});
