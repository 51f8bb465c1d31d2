// The list page's "Export / import" link carries the view the list shows
// now (sort, filters, search live in the address).
const link = document.getElementById("data-link");
if (link) {
  const base = link.getAttribute("href").split("?")[0];
  const follow = () => { link.href = base + location.search; };
  link.addEventListener("click", follow);
  link.addEventListener("focus", follow);
  link.addEventListener("pointerenter", follow);
}
