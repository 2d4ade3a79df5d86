// The leaderboard page's behaviour, inlined into index.html by site.py.
//
// site.py renders the whole page as HTML: each table in rank order at its
// ranking alpha, the rows at every other alpha in <template data-alpha>
// elements beside its body. This script only enhances that page, and
// formats nothing itself:
//   - sorting: click a header (a second click reverses); cells carry their
//     sort value in data-sort (none where missing: such rows go last either
//     way), ties keep rank order;
//   - the task, procedure and alpha selects (by default each table at its
//     ranking alpha; choosing an alpha swaps in that alpha's rows, in rank
//     order);
//   - figures open large in a dialog (their links lead to the image without
//     JavaScript); a click on the large image toggles its actual size.
(function () {
  "use strict";
  var HEADLINE = "headline";
  var state = {alpha: HEADLINE, procedure: "all"};
  var views = [];
  var rankOrder = new Map();  // <tr> -> its place in rank order
  var lightbox = null;

  function each(nodes, f) { Array.prototype.forEach.call(nodes, f); }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      node.setAttribute(name, attrs[name]);
    });
    [].concat(children || []).forEach(function (c) {
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function remember(tbody) {
    each(tbody.rows, function (tr, i) { rankOrder.set(tr, i); });
  }

  // A cell's sort value: a number (text in text columns); null if missing.
  function sortValue(td, type) {
    var raw = td.getAttribute("data-sort");
    if (raw === null) return null;
    return type === "text" ? raw : parseFloat(raw);
  }

  function comparator(index, type, dir) {
    return function (x, y) {
      var vx = sortValue(x.cells[index], type);
      var vy = sortValue(y.cells[index], type);
      var mx = vx === null, my = vy === null;
      if (mx !== my) return mx ? 1 : -1;  // missing last, either direction
      var c = 0;
      if (!mx) {
        c = type === "text" ? (vx < vy ? -1 : (vx > vy ? 1 : 0)) : vx - vy;
        if (dir === "descending") c = -c;
      }
      return c !== 0 ? c : rankOrder.get(x) - rankOrder.get(y);
    };
  }

  // Orders the shown rows by view.sort and marks the header that sorts.
  function sortRows(view) {
    var index = 0;
    view.headers.forEach(function (th, i) {
      if (th.getAttribute("data-key") === view.sort.key) {
        index = i;
        th.setAttribute("aria-sort", view.sort.dir);
      } else {
        th.removeAttribute("aria-sort");
      }
    });
    var type = view.headers[index].getAttribute("data-type");
    var rows = Array.prototype.slice.call(view.tbody.rows);
    rows.sort(comparator(index, type, view.sort.dir));
    rows.forEach(function (tr) { view.tbody.appendChild(tr); });
  }

  function sortBy(view, th) {
    var key = th.getAttribute("data-key");
    if (view.sort.key === key) {
      view.sort.dir = view.sort.dir === "ascending" ? "descending"
                                                     : "ascending";
    } else {
      view.sort = {key: key, dir: th.getAttribute("data-type") === "text"
                                  ? "ascending" : "descending"};
    }
    sortRows(view);
  }

  function applyProcedure(view) {
    each(view.table.querySelectorAll("[data-procedure]"), function (cell) {
      cell.hidden = state.procedure !== "all" &&
                    cell.getAttribute("data-procedure") !== state.procedure;
    });
  }

  // Shows the rows at the selected alpha, in rank order.
  function showAlpha(view) {
    var tbody = (state.alpha !== HEADLINE && view.bodies[state.alpha]) ||
                view.headline;
    if (tbody !== view.tbody) {
      view.table.replaceChild(tbody, view.tbody);
      view.tbody = tbody;
    }
    view.line.textContent = tbody.getAttribute("data-line");
    view.sort = {key: "rank", dir: "ascending"};
    sortRows(view);
    applyProcedure(view);
  }

  function makeView(section) {
    var table = section.querySelector("table.leaderboard");
    var view = {section: section, table: table, tbody: table.tBodies[0],
                headline: table.tBodies[0], bodies: {},
                line: section.querySelector(".alpha-line"),
                headers: Array.prototype.slice.call(table.tHead.rows[0].cells),
                sort: {key: "rank", dir: "ascending"}};
    remember(view.headline);
    view.bodies[view.headline.getAttribute("data-alpha")] = view.headline;
    each(table.querySelectorAll("template[data-alpha]"), function (t) {
      var tbody = document.importNode(t.content.querySelector("tbody"), true);
      remember(tbody);
      view.bodies[t.getAttribute("data-alpha")] = tbody;
    });
    view.headers.forEach(function (th) {
      var button = el("button", {type: "button"});
      while (th.firstChild) button.appendChild(th.firstChild);
      th.appendChild(button);
      th.addEventListener("click", function () { sortBy(view, th); });
    });
    return view;
  }

  function onSelect(id, handle) {
    var select = document.getElementById(id);
    select.addEventListener("change", function () { handle(select.value); });
  }

  function openFigure(link) {
    if (!lightbox) {
      lightbox = {image: el("img", {alt: "", title: "Click: actual size"}),
                  caption: el("span", {class: "caption"}),
                  full: el("a", {target: "_blank"}, "full size"),
                  close: el("button", {type: "button", class: "close",
                                       "aria-label": "Close"}, "\u00d7")};
      lightbox.dialog = el("dialog", {class: "lightbox",
                                      "aria-label": "Figure"}, [
        el("div", {class: "bar"},
           [lightbox.caption, lightbox.full, lightbox.close]),
        lightbox.image]);
      lightbox.close.addEventListener("click", function () {
        lightbox.dialog.close();
      });
      lightbox.dialog.addEventListener("click", function (event) {
        if (event.target === lightbox.dialog) lightbox.dialog.close();
      });
      lightbox.image.addEventListener("click", function () {
        lightbox.image.classList.toggle("actual");
      });
      document.body.appendChild(lightbox.dialog);
    }
    var img = link.querySelector("img");
    var caption = link.parentNode.querySelector("figcaption");
    lightbox.image.classList.remove("actual");
    lightbox.image.src = link.getAttribute("href");
    lightbox.image.alt = img ? img.alt : "";
    lightbox.caption.textContent = caption ? caption.textContent : "";
    lightbox.full.href = link.getAttribute("href");
    lightbox.dialog.showModal();
  }

  function main() {
    each(document.querySelectorAll("section.task"), function (section) {
      views.push(makeView(section));
    });
    onSelect("task-filter", function (value) {
      views.forEach(function (v) {
        v.section.hidden = value !== "all" &&
                           v.section.getAttribute("data-task") !== value;
      });
    });
    onSelect("procedure-filter", function (value) {
      state.procedure = value;
      views.forEach(applyProcedure);
    });
    onSelect("alpha-select", function (value) {
      state.alpha = value;
      views.forEach(showAlpha);
    });
    document.addEventListener("click", function (event) {
      var link = event.target.closest && event.target.closest("a.zoom");
      if (!link || event.button !== 0 || event.ctrlKey || event.metaKey ||
          event.shiftKey || event.altKey) return;
      event.preventDefault();
      openFigure(link);
    });
    each(document.querySelectorAll(".js-only"), function (node) {
      node.hidden = false;
    });
  }

  main();
})();
