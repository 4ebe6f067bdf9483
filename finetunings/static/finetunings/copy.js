// Copy buttons next to model ids on the job page (no inline script, nothing external).
document.addEventListener("click", (event) => {
  const button = event.target.closest("button.ft-copy");
  if (!button) return;
  navigator.clipboard.writeText(button.dataset.copy).then(() => {
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
});
