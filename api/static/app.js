// citeqa chat page: streams answers from POST /v1/chat and shows each citation in its article.
// Every piece of server text is inserted with textContent, never as HTML.
"use strict";

const state = { messages: [], busy: false, documents: new Map() };
const $ = (id) => document.getElementById(id);

function token() { return sessionStorage.getItem("citeqa-token"); }

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
    if (token()) headers.Authorization = `Bearer ${token()}`;
    const response = await fetch(path, { ...options, headers });
    if (response.status !== 401) return response;
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

async function loadDocuments() {
  const response = await api("/v1/documents");
  if (!response.ok) return;
  const body = await response.json();
  const select = $("documents");
  for (const doc of body.documents) {
    state.documents.set(doc.id, doc);
    const option = element("option", "", doc.title || doc.id);
    option.value = doc.id;
    select.append(option);
  }
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
    const button = element("button", "citation", `Citation ${index + 1}: ${title}`);
    button.type = "button";
    button.addEventListener("click", () => openCitation(citation));
    citations.append(button);
  });
  if (result.citations.length) turn.append(citations);
}

async function openCitation(citation) {
  const response = await api(`/v1/documents/${encodeURIComponent(citation.document_id)}`);
  if (!response.ok) return;
  const doc = await response.json();
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
  $("viewer-title").textContent = doc.title || doc.id;
  $("viewer").hidden = false;
  evidence.scrollIntoView({ block: "center" });
  article.focus({ preventScroll: true });
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
  loadDocuments();
  box.focus();
});
