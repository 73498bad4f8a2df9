// Per-rule statistics from moderators' decisions.
"use strict";

const $ = (id) => document.getElementById(id);

async function load() {
  const q = new URLSearchParams({sort: $("sort").value, min_total: String(Math.max(0, parseInt($("min-total").value, 10) || 0)), limit: "500"});
  try {
    const data = await api("GET", "/v1/rules/stats?" + q.toString());
    const tbody = $("rules");
    tbody.replaceChildren();
    for (const r of data.rules) {
      const pct = Math.round(r.overturn_rate * 100);
      const bar = el("span", {class: "ratebar"}, el("span", {class: "fill"}));
      bar.firstChild.style.width = pct + "%";
      tbody.append(el("tr", {},
        el("td", {class: "rule"}, r.rule),
        el("td", {}, el("span", {class: "tag cat-" + r.category}, label("category", r.category))),
        el("td", {}, label("pattern", r.pattern)),
        el("td", {class: "num"}, String(r.confirmed)),
        el("td", {class: "num"}, String(r.overturned)),
        el("td", {class: "num"}, String(r.total)),
        el("td", {class: "num"}, bar, ` ${pct}%`),
      ));
    }
    $("status").textContent = data.rules.length ? `共 ${data.total_rules} 条规则有审核记录。` : "还没有审核决定。";
  } catch (e) {
    if (e.status === 401 || e.status === 403) window.onApiAuthError(e);
    else $("status").textContent = e.message;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  setupSignin(() => api("GET", "/v1/rules/stats?limit=1"), () => {
    $("sort").onchange = load;
    $("min-total").onchange = load;
    $("refresh").onclick = load;
    load();
  });
});
