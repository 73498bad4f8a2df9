// The moderator queue: list, claim, highlight hits, decide (a = pass, r = block, n = next).
"use strict";

const state = {items: [], current: null, category: "", busy: false, me: null, renew: null};
const POLL_MS = 20000;
const $ = (id) => document.getElementById(id);

function setStatus(text, kind) {
  const s = $("status");
  s.textContent = text || "";
  s.className = "status" + (kind ? " " + kind : "");
}

function queuePath() {
  const q = new URLSearchParams({status: "pending", limit: "100"});
  if (state.category) q.set("category", state.category);
  if ($("f-scene").value) q.set("scene", $("f-scene").value);
  if ($("f-pattern").value) q.set("pattern", $("f-pattern").value);
  return "/v1/reviews?" + q.toString();
}

function handle(e) {
  if (e.status === 401 || e.status === 403) { window.onApiAuthError(e); return; }
  setStatus(e.message, "error");
}

function renderCounts(counts) {
  const box = $("counts");
  box.replaceChildren();
  const chip = (value, text, n) => el("button", {
    type: "button", class: "chip" + (state.category === value ? " active" : "") + (value ? " cat-" + value : ""),
    dataset: {category: value}, "aria-pressed": String(state.category === value),
    onclick: () => { state.category = value; loadQueue(); },
  }, text, " ", el("span", {class: "n"}, String(n)));
  box.append(chip("", "全部", counts.total || 0));
  for (const c of Object.keys(LABELS.category)) {
    box.append(chip(c, LABELS.category[c], (counts.category || {})[c] || 0));
  }
}

function renderQueue() {
  const list = $("queue");
  list.replaceChildren();
  $("queue-count").textContent = `(${state.items.length})`;
  for (const it of state.items) {
    const li = el("li", {
      class: "qitem" + (state.current && state.current.id === it.id ? " current" : "")
      + (it.claimed_by && it.claimed_by !== state.me ? " claimed" : ""),
      dataset: {id: it.id}, tabindex: "0",
      onclick: () => openItem(it.id),
    },
      el("span", {class: "cats"}, it.categories.map((c) => el("span", {class: "tag cat-" + c}, label("category", c)))),
      el("span", {class: "scene"}, label("scene", it.scene)),
      el("span", {class: "age"}, ago(it.age_seconds)),
      it.claimed_by && it.claimed_by !== state.me ? el("span", {class: "lock", title: "其他审核员正在处理"}, "他人处理中") : null,
    );
    list.append(li);
  }
}

async function loadQueue() {
  try {
    const data = await api("GET", queuePath());
    state.items = data.items;
    renderCounts(data.counts || {});
    renderQueue();
    if (!state.current) {
      $("empty").hidden = state.items.length > 0;
      $("empty").textContent = state.items.length ? "" : "队列已清空。";
    }
    return data;
  } catch (e) { handle(e); return null; }
}

// Highlight hits in the text. Offsets are code-point indices (Python str), so index an array of
// code points, never the UTF-16 string.
function renderText(box, text, hits) {
  box.replaceChildren();
  if (text === null || text === undefined) {
    box.append(el("em", {class: "purged"}, "（原文已按保留期限删除）"));
    return;
  }
  const chars = Array.from(text);
  const n = chars.length;
  const cover = Array.from({length: n}, () => []);
  hits.forEach((h, i) => {
    if (Number.isInteger(h.start) && Number.isInteger(h.end) && h.start >= 0 && h.start < h.end && h.end <= n) {
      for (let k = h.start; k < h.end; k++) cover[k].push(i);
    }
  });
  let k = 0;
  while (k < n) {
    const key = cover[k].join(",");
    let j = k + 1;
    while (j < n && cover[j].join(",") === key) j++;
    const s = chars.slice(k, j).join("");
    if (key) {
      const first = hits[cover[k][0]];
      const tip = cover[k].map((i) => {
        const h = hits[i];
        return `${label("category", h.category)} · ${h.rule || ""}${h.pattern ? " · " + label("pattern", h.pattern) : ""}`;
      }).join("\n");
      box.append(el("mark", {class: "hit cat-" + first.category, dataset: {hits: key}, title: tip}, s));
    } else {
      box.append(document.createTextNode(s));
    }
    k = j;
  }
}

// Keep the claim while the moderator is reading: renew at half the lease.
function scheduleRenew(item) {
  clearTimeout(state.renew);
  if (!item.lease_until) return;
  const ms = Math.max(5000, (Date.parse(item.lease_until) - Date.now()) / 2);
  state.renew = setTimeout(async () => {
    if (!state.current || state.current.id !== item.id || state.busy) return;
    try {
      const fresh = await api("POST", `/v1/reviews/${encodeURIComponent(item.id)}/claim`);
      state.current.lease_until = fresh.lease_until;
      scheduleRenew(fresh);
    } catch (e) { setStatus("领取已失效，该条可能已被他人处理。", "warn"); }
  }, ms);
}

function renderItem(item) {
  state.current = item;
  $("empty").hidden = true;
  $("item").hidden = false;
  const v = item.verdict || {};
  const hits = v.hits || [];
  $("item-meta").replaceChildren(...[
    el("span", {class: "tag"}, label("scene", item.scene)),
    item.kind === "appeal" ? el("span", {class: "tag appeal"}, "申诉（原判拦截）") : null,
    ...item.categories.map((c) => el("span", {class: "tag cat-" + c}, label("category", c))),
    ...item.patterns.map((p) => el("span", {class: "tag pattern"}, label("pattern", p))),
    el("span", {class: "muted"}, `编号 ${item.id}`),
    item.field ? el("span", {class: "muted"}, `字段 ${item.field}`) : null,
    el("span", {class: "muted"}, `入队 ${ago(item.age_seconds)}`),
    el("span", {class: item.masked ? "muted" : "warn"}, item.masked ? "联系方式已脱敏" : "未脱敏（已记录审计）"),
  ].filter(Boolean));
  const ctx = $("context");
  ctx.replaceChildren();
  if (item.context && item.context.length) {
    ctx.hidden = false;
    ctx.append(el("h3", {}, "会话上文（最多几条）"));
    for (const c of item.context) ctx.append(el("p", {class: "ctxmsg"}, c.text));
  } else {
    ctx.hidden = true;
  }
  renderText($("item-text"), item.text, hits);
  const tbody = $("hits");
  tbody.replaceChildren();
  hits.forEach((h, i) => {
    tbody.append(el("tr", {dataset: {hit: String(i)},
      onmouseenter: () => markActive(i, true), onmouseleave: () => markActive(i, false)},
      el("td", {}, el("mark", {class: "hit cat-" + h.category}, h.text == null ? "—" : h.text)),
      el("td", {}, label("category", h.category)),
      el("td", {}, label("pattern", h.pattern)),
      el("td", {class: "rule"}, h.rule || "—"),
      el("td", {}, (h.via && h.via.length) ? h.via.map((x) => label("via", x)).join("、") : "原文直接命中"),
      el("td", {}, label("severity", h.severity)),
    ));
  });
  $("btn-unmask").hidden = !item.can_unmask || !item.masked;
  $("reason").value = "";
  renderQueue();
}

function markActive(i, on) {
  for (const m of $("item-text").querySelectorAll("mark")) {
    if (m.dataset.hits.split(",").includes(String(i))) m.classList.toggle("active", on);
  }
}

async function openItem(id, keepStatus) {
  if (state.busy) return;
  state.busy = true;
  try {
    if (state.current && state.current.id !== id) await releaseCurrent();
    const item = await api("POST", `/v1/reviews/${encodeURIComponent(id)}/claim`);
    state.me = item.claimed_by;
    renderItem(item);
    scheduleRenew(item);
    if (!keepStatus) setStatus("已领取，请审核。", "");
  } catch (e) {
    if (e.status === 409) {
      setStatus("该条已被其他审核员领取或已处理，已跳过。", "warn");
      state.items = state.items.filter((x) => x.id !== id);
      renderQueue();
    } else handle(e);
  } finally { state.busy = false; }
}

async function releaseCurrent() {
  const cur = state.current;
  if (!cur) return;
  state.current = null;
  try { await api("POST", `/v1/reviews/${encodeURIComponent(cur.id)}/release`); } catch (e) { /* lease expires anyway */ }
}

function nextId(afterId) {
  const ids = state.items.filter((x) => !x.claimed_by || x.claimed_by === state.me || x.id === afterId)
    .map((x) => x.id);
  const i = ids.indexOf(afterId);
  const rest = i >= 0 ? ids.slice(i + 1).concat(ids.slice(0, i)) : ids;
  return rest.find((x) => x !== afterId) || null;
}

function showEmpty() {
  state.current = null;
  $("item").hidden = true;
  $("empty").hidden = false;
  $("empty").textContent = "队列已清空。";
  renderQueue();
}

async function decide(decision) {
  const cur = state.current;
  if (!cur || state.busy) return;
  state.busy = true;
  try {
    const reason = $("reason").value.trim() || null;
    await api("POST", `/v1/reviews/${encodeURIComponent(cur.id)}/decision`, {decision, reason});
    const nxt = nextId(cur.id);
    state.items = state.items.filter((x) => x.id !== cur.id);
    state.current = null;
    setStatus(`上一条已${label("decision", decision)}（${cur.id}）。`, decision === "pass" ? "ok" : "blocked");
    state.busy = false;
    await loadQueue();
    const target = (nxt && state.items.some((x) => x.id === nxt)) ? nxt : nextId(null);
    if (target) await openItem(target, true);
    else {
      showEmpty();
      setStatus(`上一条已${label("decision", decision)}（${cur.id}），队列已清空。`, decision === "pass" ? "ok" : "blocked");
    }
  } catch (e) {
    state.busy = false;
    if (e.status === 409) { setStatus("该条已被他人处理或领取。", "warn"); state.current = null; await loadQueue(); }
    else handle(e);
  }
}

async function skip() {
  const cur = state.current;
  const target = nextId(cur ? cur.id : null);
  if (!target) { setStatus("没有下一条了。", "warn"); return; }
  await openItem(target);
}

async function unmask() {
  const cur = state.current;
  if (!cur) return;
  try {
    const item = await api("GET", `/v1/reviews/${encodeURIComponent(cur.id)}?unmask=true`);
    renderItem({...item, claimed_by: cur.claimed_by});
    setStatus("已显示未脱敏内容，此操作已记入审计日志。", "warn");
  } catch (e) {
    if (e.status === 403) setStatus("你的角色无权查看未脱敏内容。", "error"); else handle(e);
  }
}

function onKey(ev) {
  const t = ev.target;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) {
    if (ev.key === "Escape") t.blur();
    return;
  }
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const k = ev.key.toLowerCase();
  if (k === "a") { ev.preventDefault(); decide("pass"); }
  else if (k === "r") { ev.preventDefault(); decide("block"); }
  else if (k === "n") { ev.preventDefault(); skip(); }
}

async function start() {
  $("btn-pass").onclick = () => decide("pass");
  $("btn-block").onclick = () => decide("block");
  $("btn-next").onclick = () => skip();
  $("btn-unmask").onclick = () => unmask();
  $("refresh").onclick = () => loadQueue();
  $("f-scene").onchange = () => loadQueue();
  $("f-pattern").onchange = () => loadQueue();
  document.addEventListener("keydown", onKey);
  window.addEventListener("pagehide", () => {
    const cur = state.current;
    if (cur) fetch(`/v1/reviews/${encodeURIComponent(cur.id)}/release`,
      {method: "POST", keepalive: true, headers: {"Authorization": `Bearer ${getKey()}`}});
  });
  const data = await loadQueue();
  const first = data && nextId(null);
  if (first) await openItem(first);
  // New items appear without a reload: counts always, the list when nothing is open.
  setInterval(async () => {
    if (state.busy || !getKey()) return;
    if (!state.current) {
      await loadQueue();
      const nxt = nextId(null);
      if (nxt && !state.current) await openItem(nxt);
      return;
    }
    try { renderCounts(await api("GET", "/v1/reviews/counts")); } catch (e) { /* next tick */ }
  }, POLL_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  setupSignin(() => api("GET", "/v1/reviews/counts"), start);
});
