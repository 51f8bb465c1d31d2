// The print sheet's Print button (the page works with the browser's own
// Print command too).
const button = document.getElementById("print-now");
if (button) button.addEventListener("click", () => window.print());
