// citeqa chat page: streams answers from POST /v1/chat, shows each citation on its page (PDF) or in its
// text, and manages documents with the admin token. Every piece of server text (answers, titles, file
// names, messages) is inserted with textContent, never as HTML. Tokens live in sessionStorage only.
// Over 300 lines on purpose: the one page's one script, served as is (no build step, no framework).
"use strict";

const state = { messages: [], busy: false, documents: new Map(), texts: new Map(), pageUrl: null };
const $ = (id) => document.getElementById(id);

function token() { return sessionStorage.getItem("citeqa-token"); }
function adminToken() { return sessionStorage.getItem("citeqa-admin-token"); }
// The admin token is accepted wherever the API token is; writes need it.
function bearer() { return adminToken() || token(); }

function askForToken() {
  return new Promise((resolve) => {
    const dialog = $("token-dialog");
    $("token-form").onsubmit = () => {
      sessionStorage.setItem("citeqa-token", $("token").value.trim());
      resolve();
    };
    dialog.showModal();
    $("token").focus();
  });
}

async function api(path, options = {}) {
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const headers = { ...(options.headers || {}) };
    if (bearer()) headers.Authorization = `Bearer ${bearer()}`;
    const response = await fetch(path, { ...options, headers });
    if (response.status !== 401) return response;
    if (adminToken()) return response; // a wrong admin token is shown in the panel, not asked again here
    sessionStorage.removeItem("citeqa-token");
    await askForToken();
  }
  throw new Error("the access token was not accepted");
}

// API offsets count Unicode code points; JavaScript strings count UTF-16 units.
function codePointToUtf16(text, codePoints) {
  let units = 0;
  let seen = 0;
  while (seen < codePoints && units < text.length) {
    const code = text.charCodeAt(units);
    units += code >= 0xd800 && code <= 0xdbff && units + 1 < text.length ? 2 : 1;
    seen += 1;
  }
  return units;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

async function errorMessage(response) {
  const problem = await response.json().catch(() => ({}));
  return problem.error?.message || `request failed (${response.status})`;
}

async function loadDocuments() {
  const response = await api("/v1/documents");
  if (!response.ok) return;
  const body = await response.json();
  const select = $("documents");
  const chosen = select.value;
  state.documents = new Map(body.documents.map((doc) => [doc.id, doc]));
  const options = [select.options[0]];
  for (const doc of body.documents) {
    const option = element("option", "", doc.title || doc.id);
    option.value = doc.id;
    options.push(option);
  }
  select.replaceChildren(...options);
  select.value = state.documents.has(chosen) ? chosen : "";
  renderDocumentTable();
}

const TYPE_NAMES = { pdf: "PDF", docx: "Word", text: "Text", markdown: "Markdown", html: "HTML" };

function renderDocumentTable() {
  const rows = [];
  for (const doc of state.documents.values()) {
    const row = document.createElement("tr");
    row.dataset.id = doc.id;
    const title = element("td", "title", doc.title || doc.id);
    if (doc.filename) title.append(element("span", "filename", doc.filename));
    const added = doc.added_at ? new Date(doc.added_at * 1000).toLocaleString() : "";
    row.append(title, element("td", "", TYPE_NAMES[doc.source_type] || doc.source_type),
      element("td", "", doc.page_count == null ? "—" : String(doc.page_count)), element("td", "", String(doc.chunks)),
      element("td", "", added));
    const actions = element("td", "actions");
    if (adminToken()) {
      const remove = element("button", "secondary danger", "Delete");
      remove.type = "button";
      remove.setAttribute("aria-label", `Delete ${doc.title || doc.id}`);
      remove.addEventListener("click", () => deleteDocument(doc));
      actions.append(remove);
    }
    row.append(actions);
    rows.push(row);
  }
  $("document-table").tBodies[0].replaceChildren(...rows);
}

async function deleteDocument(doc) {
  if (!window.confirm(`Delete "${doc.title || doc.id}"? Its passages go too; this cannot be undone.`)) return;
  const response = await api(`/v1/documents/${encodeURIComponent(doc.id)}`, { method: "DELETE" });
  $("admin-status").textContent = response.ok ? `Deleted "${doc.title || doc.id}".` : await errorMessage(response);
  state.texts.delete(doc.id);
  await loadDocuments();
}

function showAdmin() {
  const admin = Boolean(adminToken());
  $("upload-area").hidden = !admin;
  $("clear-admin-token").disabled = !admin;
  $("admin-status").textContent = admin ? "Admin token in use for this tab: you can add and delete documents."
    : "Read-only: enter the admin token to add or delete documents.";
  renderDocumentTable();
}

function openDocuments(open) {
  $("documents-panel").hidden = !open;
  $("open-documents").setAttribute("aria-expanded", String(open));
  if (open) {
    loadDocuments();
    (adminToken() ? $("upload") : $("admin-token")).focus();
  } else {
    $("open-documents").focus();
  }
}

// One file: uploaded with a progress bar (XMLHttpRequest reports upload progress; fetch does not), then an
// indeterminate bar while the server reads and indexes it, then the outcome in words.
function uploadFile(file) {
  const item = element("li", "upload-item");
  const name = element("span", "upload-name", file.name);
  const bar = element("progress");
  bar.max = 1;
  bar.value = 0;
  bar.setAttribute("aria-label", `Upload of ${file.name}`);
  const status = element("span", "upload-status", "Uploading…");
  status.setAttribute("role", "status");
  item.append(name, bar, status);
  $("uploads").append(item);
  return new Promise((resolve) => {
    const request = new XMLHttpRequest();
    request.open("POST", "/v1/documents");
    request.setRequestHeader("Authorization", `Bearer ${adminToken()}`);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) bar.value = event.loaded / event.total;
    });
    request.upload.addEventListener("load", () => {
      bar.removeAttribute("value"); // indeterminate: it moves while the server reads and indexes
      status.textContent = "Reading and indexing…";
    });
    request.addEventListener("load", () => {
      let body = {};
      try { body = JSON.parse(request.responseText); } catch { body = {}; }
      if (request.status === 201) {
        bar.value = 1;
        const pages = body.page_count ? `${body.page_count} pages, ` : "";
        const skipped = body.pages_without_text?.length
          ? ` Pages without text (not searchable, no OCR): ${body.pages_without_text.join(", ")}.` : "";
        status.textContent = `Added "${body.title}" (${pages}${body.chunks} passages).${skipped}`;
        item.classList.add("done");
      } else {
        bar.value = 0;
        status.textContent = body.error?.message || `The upload failed (${request.status}).`;
        status.setAttribute("role", "alert");
        item.classList.add("failed");
      }
      resolve();
    });
    request.addEventListener("error", () => {
      status.textContent = "The upload failed: the server could not be reached.";
      status.setAttribute("role", "alert");
      item.classList.add("failed");
      resolve();
    });
    const form = new FormData();
    form.append("file", file, file.name);
    request.send(form);
  });
}

async function uploadFiles(files) {
  if (!adminToken()) {
    openDocuments(true);
    $("admin-status").textContent = "Enter the admin token to add documents.";
    return;
  }
  $("documents-panel").hidden = false;
  $("open-documents").setAttribute("aria-expanded", "true");
  await Promise.all(Array.from(files).map(uploadFile));
  await loadDocuments();
}

function addTurn(role, text) {
  const turn = element("div", `turn ${role}`);
  turn.append(element("p", role === "user" ? "question" : "answer", text));
  const hint = document.querySelector("#transcript .hint");
  if (hint) hint.remove();
  $("transcript").append(turn);
  turn.scrollIntoView({ block: "end" });
  return turn;
}

function finishAnswer(turn, result) {
  const answer = turn.querySelector(".answer");
  const citations = element("div", "citations");
  if (result.answer === null) {
    turn.classList.add("unanswered");
    answer.textContent = "The documents do not answer this.";
    if (result.citations.length) {
      turn.append(element("p", "meta", "Closest passage:"));
      turn.append(element("blockquote", "quote", result.citations[0].passage.text));
    }
  } else {
    answer.textContent = result.answer;
    turn.append(element("blockquote", "quote", result.citations[0].passage.text));
    turn.append(element("p", "meta", `Confidence ${(result.score * 100).toFixed(0)}%`));
  }
  result.citations.forEach((citation, index) => {
    const title = state.documents.get(citation.document_id)?.title || citation.document_id;
    const where = citation.page != null ? `, p. ${citation.page}` : "";
    const button = element("button", "citation", `Citation ${index + 1}: ${title}${where}`);
    button.type = "button";
    button.addEventListener("click", () => openCitation(citation));
    citations.append(button);
  });
  if (result.citations.length) turn.append(citations);
}

async function documentText(id) {
  if (!state.texts.has(id)) {
    const response = await api(`/v1/documents/${encodeURIComponent(id)}`);
    if (!response.ok) return null;
    state.texts.set(id, await response.json());
  }
  return state.texts.get(id);
}

function showText(doc, citation) {
  const text = doc.text;
  const at = (cp) => codePointToUtf16(text, cp);
  const passageStart = at(citation.passage.start);
  const passageEnd = at(citation.passage.end);
  const start = at(citation.start);
  const end = at(citation.end);
  const article = $("article");
  article.replaceChildren();
  const evidence = element("span", "evidence");
  evidence.append(document.createTextNode(text.slice(passageStart, start)));
  evidence.append(element("mark", "", text.slice(start, end)));
  evidence.append(document.createTextNode(text.slice(end, passageEnd)));
  article.append(document.createTextNode(text.slice(0, passageStart)), evidence,
    document.createTextNode(text.slice(passageEnd)));
  return evidence;
}

function whereCited(doc, citation) {
  if (citation.page != null) {
    const label = citation.page_label && citation.page_label !== String(citation.page)
      ? ` (printed ${citation.page_label})` : "";
    const more = citation.pages.length > 1 ? `, continuing to page ${citation.pages[citation.pages.length - 1]}` : "";
    // A PDF with an outline also names the section the span sits in (its innermost heading).
    const heading = citation.section?.length ? ` · ${citation.section[citation.section.length - 1]}` : "";
    return `page ${citation.page}${label}${more}${heading}`;
  }
  if (citation.section?.length) return `Section: ${citation.section.join(" › ")}`;
  return "";
}

// The rendered page (fetched with the token, shown from a blob URL) with the citation's boxes drawn over it:
// boxes are in PDF points from the page's top-left corner, placed as percentages of the page's size.
async function showPage(doc, citation) {
  const info = doc.pages?.[citation.page - 1];
  const response = await api(`/v1/documents/${encodeURIComponent(doc.id)}/pages/${citation.page}`);
  if (!info || !response.ok) return false;
  if (state.pageUrl) URL.revokeObjectURL(state.pageUrl);
  state.pageUrl = URL.createObjectURL(await response.blob());
  const image = $("page-image");
  const loaded = new Promise((resolve) => { image.onload = resolve; image.onerror = resolve; });
  image.src = state.pageUrl;
  image.alt = `Page ${citation.page} of ${doc.title || doc.id}`;
  const boxes = citation.boxes.filter((box) => box.page === citation.page).map((box) => {
    const mark = element("div", "page-box");
    mark.style.left = `${(box.x0 / info.width) * 100}%`;
    mark.style.top = `${(box.y0 / info.height) * 100}%`;
    mark.style.width = `${((box.x1 - box.x0) / info.width) * 100}%`;
    mark.style.height = `${((box.y1 - box.y0) / info.height) * 100}%`;
    return mark;
  });
  $("page-boxes").replaceChildren(...boxes);
  await loaded;
  return boxes;
}

function setView(mode) {
  const paged = mode === "page";
  $("page-view").hidden = !paged;
  $("article").hidden = paged;
  const toggle = $("toggle-view");
  toggle.textContent = paged ? "Show text" : "Show page";
  toggle.setAttribute("aria-pressed", String(!paged));
}

async function openCitation(citation) {
  const doc = await documentText(citation.document_id);
  if (!doc) return;
  $("viewer-title").textContent = doc.title || doc.id;
  const where = whereCited(doc, citation);
  $("viewer-where").textContent = where;
  $("viewer-where").hidden = !where;
  $("viewer").hidden = false;
  const evidence = showText(doc, citation);
  const toggle = $("toggle-view");
  const boxes = citation.page != null ? await showPage(doc, citation) : false;
  toggle.hidden = !boxes;
  if (boxes) {
    setView("page");
    toggle.onclick = () => {
      const toText = $("article").hidden;
      setView(toText ? "text" : "page");
      if (toText) evidence.scrollIntoView({ block: "center" });
      else boxes[0]?.scrollIntoView({ block: "center" });
    };
    if (boxes.length) boxes[0].scrollIntoView({ block: "center" });
    $("page-view").focus({ preventScroll: true });
  } else {
    setView("text");
    evidence.scrollIntoView({ block: "center" });
    $("article").focus({ preventScroll: true });
  }
}

function parseEvents(buffer, onEvent) {
  const blocks = buffer.split(/\r?\n\r?\n/);
  const rest = blocks.pop();
  for (const block of blocks) {
    let name = "message";
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (data.length) onEvent(name, JSON.parse(data.join("\n")));
  }
  return rest;
}

async function ask(question) {
  state.busy = true;
  $("send").disabled = true;
  addTurn("user", question);
  state.messages.push({ role: "user", content: question });
  const turn = addTurn("assistant", "");
  const answerText = turn.querySelector(".answer");
  // The server resolves follow-ups from the last few turns only and caps a chat's length, so a long
  // conversation sends its recent part rather than failing once it grows past the cap.
  const body = { messages: state.messages.slice(-48), stream: true };
  const selected = $("documents").value;
  if (selected) body.document_ids = [selected];
  let reply = "";
  try {
    const response = await api("/v1/chat", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      throw new Error(problem.error?.message || `request failed (${response.status})`);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer = parseEvents(buffer + decoder.decode(value, { stream: true }), (name, data) => {
        if (name === "delta") {
          reply += data.content;
          answerText.textContent = reply.split("\n")[0];
        } else if (name === "answer") {
          finishAnswer(turn, data);
        } else if (name === "error") {
          throw new Error(data.error.message);
        }
      });
    }
    state.messages.push({ role: "assistant", content: reply });
  } catch (error) {
    answerText.textContent = `Something went wrong: ${error.message}`;
    answerText.classList.add("error");
    state.messages.pop();
  } finally {
    state.busy = false;
    $("send").disabled = false;
    turn.scrollIntoView({ block: "end" });
  }
}

function newConversation() {
  state.messages = [];
  $("transcript").replaceChildren(element("p", "hint", "New conversation. Ask a question about the documents."));
  $("viewer").hidden = true;
  $("question").focus();
}

document.addEventListener("DOMContentLoaded", () => {
  const form = $("ask-form");
  const box = $("question");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const question = box.value.trim();
    if (!question || state.busy) return;
    box.value = "";
    ask(question);
  });
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  $("new-conversation").addEventListener("click", newConversation);
  $("close-viewer").addEventListener("click", () => { $("viewer").hidden = true; box.focus(); });
  $("open-documents").addEventListener("click", () => openDocuments($("documents-panel").hidden));
  $("close-documents").addEventListener("click", () => openDocuments(false));
  $("admin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = $("admin-token").value.trim();
    $("admin-token").value = "";
    if (!value) return;
    sessionStorage.setItem("citeqa-admin-token", value);
    showAdmin();
  });
  $("clear-admin-token").addEventListener("click", () => {
    sessionStorage.removeItem("citeqa-admin-token");
    showAdmin();
    $("admin-token").focus();
  });
  $("upload").addEventListener("change", async (event) => {
    const files = Array.from(event.target.files);
    event.target.value = "";
    if (files.length) await uploadFiles(files);
  });
  document.addEventListener("dragover", (event) => {
    if (event.dataTransfer?.types.includes("Files")) {
      event.preventDefault();
      document.body.classList.add("dropping");
    }
  });
  document.addEventListener("dragleave", (event) => {
    if (!event.relatedTarget) document.body.classList.remove("dropping");
  });
  document.addEventListener("drop", (event) => {
    if (!event.dataTransfer?.files.length) return;
    event.preventDefault();
    document.body.classList.remove("dropping");
    uploadFiles(event.dataTransfer.files);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !$("documents-panel").hidden) openDocuments(false);
  });
  showAdmin();
  loadDocuments();
  box.focus();
});
