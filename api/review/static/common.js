// Shared by the moderator pages: sign-in (key kept in sessionStorage), API calls, labels.
"use strict";

const KEY_STORAGE = "moderation.review.key";

const LABELS = {
  category: {discrimination: "歧视", illegal: "违法", political: "涉政", porn: "色情低俗", fraud: "欺诈"},
  pattern: {contact: "站外引流", investment: "投资诱导", money_request: "索要钱财", escort: "色情交易"},
  scene: {profile: "资料", post: "动态", chat: "私信"},
  severity: {low: "低", medium: "中", high: "高"},
  decision: {pass: "通过", block: "拦截", review: "待审"},
  via: {
    width: "全半角", case: "大小写", traditional: "繁体", lookalike: "形似字", noise: "干扰符号",
    repeat: "重复字", homophone: "谐音", pinyin: "拼音", split: "拆字", numeral: "中文数字",
    emoji: "表情替代", spaced: "间隔拆分",
  },
};

function label(kind, value) {
  if (value === null || value === undefined || value === "") return "—";
  const table = LABELS[kind] || {};
  return table[value] ? `${table[value]}` : String(value);
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

function getKey() { return sessionStorage.getItem(KEY_STORAGE); }

async function api(method, path, body) {
  const headers = {"Authorization": `Bearer ${getKey() || ""}`, "Accept": "application/json"};
  const init = {method, headers, cache: "no-store"};
  if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  let resp;
  try { resp = await fetch(path, init); }
  catch (e) { throw new ApiError(0, "network", "无法连接服务，请稍后重试"); }
  let data = null;
  try { data = await resp.json(); } catch (e) { data = null; }
  if (!resp.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(resp.status, err.code || "error", err.message || `HTTP ${resp.status}`);
  }
  return data;
}

function ago(seconds) {
  if (seconds < 60) return `${seconds} 秒前`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} 分钟前`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} 小时前`;
  return `${Math.floor(seconds / 86400)} 天前`;
}

// Sign-in flow shared by both pages. `probe` checks the key (throws ApiError on 401/403);
// `start` runs once signed in.
function setupSignin(probe, start) {
  const signin = document.getElementById("signin");
  const app = document.getElementById("app");
  const form = document.getElementById("signin-form");
  const error = document.getElementById("signin-error");
  const signout = document.getElementById("signout");
  const who = document.getElementById("who");

  function showSignin(message) {
    sessionStorage.removeItem(KEY_STORAGE);
    app.hidden = true; signout.hidden = true; signin.hidden = false;
    who.textContent = "";
    error.textContent = message || "";
    document.getElementById("key").focus();
  }
  async function enter() {
    try { await probe(); }
    catch (e) {
      if (e.status === 401) return showSignin("密钥无效，请重新输入。");
      if (e.status === 403) return showSignin("该密钥没有审核权限。");
      return showSignin(e.message);
    }
    signin.hidden = true; app.hidden = false; signout.hidden = false;
    who.textContent = "已登录";
    start();
  }
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const key = document.getElementById("key").value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_STORAGE, key);
    document.getElementById("key").value = "";
    enter();
  });
  signout.addEventListener("click", () => showSignin(""));
  // Enabled only now, so a click before the script ran cannot submit the key in a URL.
  form.querySelector("button[type=submit]").disabled = false;
  window.onApiAuthError = (e) => showSignin(e.status === 403 ? "该密钥没有审核权限。" : "登录已失效，请重新登录。");
  if (getKey()) enter(); else showSignin("");
}
