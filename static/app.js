// Portal progressive enhancements. Loaded with `defer` on every page.
// Everything is wired with addEventListener (no inline handlers, no eval)
// so the strict CSP holds. Pages must keep working without this file.
(function () {
  "use strict";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // The server renders every time in UTC (deterministic, cacheable HTML);
  // only the browser knows the viewer's zone, so we localise here and keep
  // the exact UTC value one hover away.
  var fmt = null;
  try {
    fmt = new Intl.DateTimeFormat(undefined, {
      year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short",
      numberingSystem: "latn" // keep digits ASCII whatever the locale
    });
  } catch (e) { /* very old browser: leave the server's UTC text alone */ }

  function localise(el) {
    var d = new Date(el.getAttribute("datetime"));
    if (!fmt || isNaN(d.getTime())) return;
    var p = {};
    fmt.formatToParts(d).forEach(function (x) { p[x.type] = x.value; });
    // Build the layout ourselves: locale formats vary (d/m vs m/d) and an
    // ISO-like order is unambiguous for a back office.
    el.textContent = p.year + "-" + p.month + "-" + p.day + " " +
      (p.hour === "24" ? "00" : p.hour) + ":" + p.minute + " " + (p.timeZoneName || "");
    el.title = d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) +
      " " + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + " UTC";
  }

  function localiseAll(root) {
    if (!root || !root.querySelectorAll) return;
    if (root.matches && root.matches("time[data-utc][datetime]")) localise(root);
    root.querySelectorAll("time[data-utc][datetime]").forEach(localise);
  }

  // Capture phase on document runs before htmx's own listeners on the
  // element, so refusing here stops both plain and htmx submissions.
  function refuse(e) { e.preventDefault(); e.stopImmediatePropagation(); }

  // Clicks cover buttons/links, including the synthetic click browsers send
  // to the default button when Enter submits a form.
  document.addEventListener("click", function (e) {
    var el = e.target.closest && e.target.closest(
      "a[data-confirm], button[data-confirm], input[type=submit][data-confirm], input[type=image][data-confirm]");
    if (el && !window.confirm(el.getAttribute("data-confirm"))) refuse(e);
  }, true);

  // The form-level message is asked on submit (once, whatever the submitter).
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.hasAttribute("data-confirm") && !window.confirm(form.getAttribute("data-confirm"))) refuse(e);
  }, true);

  // Bubble phase: only reached when nobody refused above. Disabling is
  // deferred because a disabled submitter would be dropped from the form
  // data (its name/value often says which action was chosen). The marker is
  // set now so a very fast htmx response can cancel the pending disable.
  document.addEventListener("submit", function (e) {
    var buttons = Array.prototype.filter.call(e.target.elements || [], function (el) {
      return el.hasAttribute("data-disable-on-submit");
    });
    buttons.forEach(function (b) { b.setAttribute("data-auto-disabled", ""); });
    setTimeout(function () {
      buttons.forEach(function (b) { if (b.hasAttribute("data-auto-disabled")) b.disabled = true; });
    }, 0);
  });

  function reenable(root) {
    (root || document).querySelectorAll("[data-auto-disabled]").forEach(function (b) {
      b.disabled = false;
      b.removeAttribute("data-auto-disabled");
    });
  }

  // Back/forward cache restores the page with the buttons still disabled.
  window.addEventListener("pageshow", function () { reenable(document); });

  // One shared live region so screen readers hear the confirmation that
  // sighted users get from the .is-copied tick, without relabelling buttons.
  var live = null;
  function announce(msg) {
    if (!live) {
      live = document.createElement("div");
      live.className = "sr-only";
      live.setAttribute("aria-live", "polite");
      document.body.appendChild(live);
    }
    live.textContent = "";
    setTimeout(function () { live.textContent = msg; }, 50);
  }

  document.addEventListener("click", function (e) {
    var btn = e.target.closest && e.target.closest("[data-copy]");
    if (!btn) return;
    e.preventDefault();
    var text = btn.getAttribute("data-copy");
    // The async clipboard API only exists in secure contexts (https or
    // localhost); elsewhere a prompt with the value preselected is the
    // least-bad fallback.
    if (!navigator.clipboard || !window.isSecureContext) { window.prompt("Copy:", text); return; }
    navigator.clipboard.writeText(text).then(function () {
      btn.classList.add("is-copied");
      announce("Copied to clipboard");
      setTimeout(function () { btn.classList.remove("is-copied"); }, 1500);
    }, function () { announce("Copy failed"); });
  });

  // htmx swaps in fresh server HTML (UTC times again) and, for hx-post
  // forms, the page never unloads, so the submit buttons need releasing.
  var body = document.body;
  body.addEventListener("htmx:load", function (e) { localiseAll(e.detail && e.detail.elt); });
  body.addEventListener("htmx:afterSwap", function (e) { localiseAll(e.detail && e.detail.target); });
  body.addEventListener("htmx:afterRequest", function (e) {
    var elt = e.detail && e.detail.elt;
    reenable(elt && elt.closest ? (elt.closest("form") || elt) : document);
  });

  // The phone's menu. The button ships hidden so that, without this
  // script, the menu simply stays open; has-nav-toggle is what lets the CSS
  // fold it away.
  var header = document.querySelector(".app-header");
  var toggle = header && header.querySelector(".nav-toggle");
  function setMenu(open) {
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    header.classList.toggle("nav-open", open);
  }
  if (toggle) {
    header.classList.add("has-nav-toggle");
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      setMenu(toggle.getAttribute("aria-expanded") !== "true");
    });
    // Escape closes an open menu and puts the focus back on its button, as
    // a disclosure should.
    header.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && header.classList.contains("nav-open")) {
        setMenu(false);
        toggle.focus();
      }
    });
  }

  // A table wider than its box scrolls inside its .table-wrap, and the
  // keyboard can only scroll what it can focus. So a wrap that overflows
  // and holds nothing focusable becomes a named, focusable region, and
  // stops being one when it fits again (a wide screen keeps its tab stops
  // for things that do something).
  var focusable = "a[href]:not([tabindex='-1']), button:not([disabled]), input:not([type=hidden]), select, textarea, summary, [tabindex]:not([tabindex='-1'])";
  function tableName(wrap) {
    var caption = wrap.querySelector("caption");
    var box = wrap.closest("section, .card, figure");
    var heading = box && box.querySelector("h1, h2, h3, .chart-title");
    var text = (caption && caption.textContent) || (heading && heading.textContent) || document.title;
    return text.replace(/\s+/g, " ").trim() + " (scrolls sideways)";
  }
  function fitTable(wrap) {
    var scrolls = wrap.scrollWidth > wrap.clientWidth + 1;
    var managed = wrap.hasAttribute("data-scroll-region");
    if (scrolls && !managed && !wrap.querySelector(focusable)) {
      wrap.setAttribute("data-scroll-region", "");
      wrap.setAttribute("tabindex", "0");
      wrap.setAttribute("role", "region");
      wrap.setAttribute("aria-label", tableName(wrap));
    } else if (!scrolls && managed) {
      ["data-scroll-region", "tabindex", "role", "aria-label"].forEach(function (a) { wrap.removeAttribute(a); });
    }
  }
  var sizes = window.ResizeObserver ? new ResizeObserver(function (entries) {
    entries.forEach(function (e) { fitTable(e.target); });
  }) : null;
  function watchTables(root) {
    if (!sizes || !root || !root.querySelectorAll) return;
    if (root.matches && root.matches(".table-wrap")) sizes.observe(root);
    root.querySelectorAll(".table-wrap").forEach(function (w) { sizes.observe(w); });
  }
  body.addEventListener("htmx:load", function (e) { watchTables(e.detail && e.detail.elt); });
  // Polled fragments replace their tables every few seconds: let go of the
  // old ones.
  body.addEventListener("htmx:beforeCleanupElement", function (e) {
    var el = e.detail && e.detail.elt;
    if (sizes && el && el.matches && el.matches(".table-wrap")) sizes.unobserve(el);
  });

  // Bulk selection: the heading's box ticks every row of the page, and the
  // bar says how many are ticked. Without this file each row is ticked by
  // hand and the bar still works.
  function rowBoxes(form) {
    return document.querySelectorAll('input[type=checkbox][name=id][form="' + form + '"]');
  }
  function countSelected(form) {
    var boxes = rowBoxes(form), n = 0;
    boxes.forEach(function (b) { if (b.checked) n++; });
    var all = document.querySelector('input[data-select-all="' + form + '"]');
    if (all) {
      all.checked = n > 0 && n === boxes.length;
      all.indeterminate = n > 0 && n < boxes.length;
    }
    var label = document.querySelector('[data-selected-count="' + form + '"]');
    if (label) {
      if (!label.hasAttribute("data-idle")) label.setAttribute("data-idle", label.textContent);
      label.textContent = n === 0 ? label.getAttribute("data-idle") : n + " selected:";
    }
  }
  document.querySelectorAll("input[data-select-all]").forEach(function (all) {
    all.hidden = false;
  });
  document.addEventListener("change", function (e) {
    var el = e.target;
    if (el.matches && el.matches("input[data-select-all]")) {
      var form = el.getAttribute("data-select-all");
      rowBoxes(form).forEach(function (b) { b.checked = el.checked; });
      countSelected(form);
    } else if (el.matches && el.matches("input[type=checkbox][name=id][form]")) {
      countSelected(el.getAttribute("form"));
    }
  });

  localiseAll(document);
  watchTables(document);
})();
