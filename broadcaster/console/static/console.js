// The console works without this file; it only makes pages nicer to use.
// - After a refusal, focus moves to the error summary (or the first refused control), so
//   a screen-reader or keyboard user lands on what to fix.
// - Forms marked data-confirm ask once more before they are posted.
// - Elements with data-refresh="<seconds>" reload their content from data-src, for live
//   progress without reloading the whole page.
document.addEventListener("DOMContentLoaded", () => {
  const summary = document.getElementById("error-summary");
  const firstInvalid = document.querySelector("[aria-invalid='true']");
  if (summary) summary.focus();
  else if (firstInvalid) firstInvalid.focus();

  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });

  document.querySelectorAll("[data-refresh][data-src]").forEach((element) => {
    const seconds = Math.max(1, Number(element.dataset.refresh) || 3);
    const tick = async () => {
      try {
        const response = await fetch(element.dataset.src, { headers: { "X-Requested-With": "fetch" } });
        if (response.ok) element.innerHTML = await response.text();
        if (response.ok && element.querySelector("[data-final]")) return;
      } catch (error) { /* the next tick tries again */ }
      window.setTimeout(tick, seconds * 1000);
    };
    window.setTimeout(tick, seconds * 1000);
  });
});
