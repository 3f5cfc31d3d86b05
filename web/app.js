// smolvid web page: search the event index, play an event's clip, ask a streaming question,
// summarize a video with live progress. Plain JavaScript against the server's own API; works offline.
'use strict';

const $ = (id) => document.getElementById(id);

function apiKey() { return localStorage.getItem('smolvid_key') || ''; }

function authHeaders(extra) {
  const headers = Object.assign({}, extra || {});
  const key = apiKey();
  if (key) headers.Authorization = 'Bearer ' + key;
  return headers;
}

// The key also travels as a cookie so that <img> and <video> requests carry it.
function storeKey(key) {
  localStorage.setItem('smolvid_key', key);
  document.cookie = 'smolvid_key=' + encodeURIComponent(key) + '; path=/; SameSite=Strict';
}

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = authHeaders(opts.headers);
  const res = await fetch(path, opts);
  if (!res.ok) {
    let message = res.status + ' ' + res.statusText;
    try { message = (await res.json()).error.message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return res;
}

function clock(seconds) {
  const s = Math.max(0, seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = (s % 60).toFixed(1).padStart(4, '0');
  return (h ? h + ':' + String(m).padStart(2, '0') : String(m)) + ':' + sec;
}

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// Reads a text/event-stream response, calling onEvent(eventName, data) for each event.
async function readEvents(res, onEvent) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = 'message', data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (data) onEvent(event, data);
    }
  }
}

// ---- status and media list ----------------------------------------------------------------------
async function loadStatus() {
  try {
    const health = await (await fetch('/health')).json();
    $('status').textContent = 'Model ' + health.model + (health.busy ? ' (busy)' : ' (ready)');
  } catch (e) {
    $('status').textContent = 'Server unreachable';
  }
  try {
    const media = await (await api('/v1/media')).json();
    for (const select of [$('ask-media'), $('summary-media')]) {
      select.replaceChildren();
      for (const f of media.files) {
        if (select === $('summary-media') && f.kind !== 'video') continue;
        select.append(el('option', { value: f.path }, f.name));
      }
      if (!select.options.length) select.append(el('option', { value: '' }, '(no media folder)'));
    }
  } catch (e) {
    $('status').textContent += ' — ' + e.message;
  }
}

// ---- search -------------------------------------------------------------------------------------
async function search(event) {
  if (event) event.preventDefault();
  const params = new URLSearchParams();
  for (const [name, id] of [['q', 'search-q'], ['camera', 'search-camera'], ['from', 'search-from'], ['to', 'search-to']]) {
    const v = $(id).value.trim();
    if (v) params.set(name, v);
  }
  params.set('limit', '50');
  const list = $('search-results');
  const message = $('search-message');
  message.className = '';
  message.textContent = 'Searching…';
  try {
    const data = await (await api('/v1/events?' + params)).json();
    list.replaceChildren();
    for (const r of data.results) list.append(eventCard(r));
    message.textContent = data.results.length + (data.results.length === 1 ? ' event' : ' events');
  } catch (e) {
    list.replaceChildren();
    message.className = 'error';
    message.textContent = e.message;
  }
}

function eventCard(r) {
  const li = el('li');
  const button = el('button', { type: 'button', class: 'event', 'data-event-id': r.event_id,
    'aria-label': 'Event at ' + clock(r.start_s) + ' on ' + r.camera + ': ' + r.caption });
  if (r.thumbnail_url) button.append(el('img', { src: r.thumbnail_url, alt: r.caption, loading: 'lazy' }));
  const meta = el('div', { class: 'meta' });
  meta.append(el('span', { class: 'camera' }, r.camera));
  meta.append(el('time', {}, (r.wall_start ? r.wall_start + ' · ' : '') + clock(r.start_s) + ' – ' + clock(r.end_s)));
  meta.append(el('p', { class: 'caption' }, r.caption));
  button.append(meta);
  button.addEventListener('click', () => openEvent(r));
  li.append(button);
  return li;
}

function openEvent(r) {
  const video = $('event-video');
  $('event-title').textContent = r.camera + ' · ' + clock(r.start_s) + ' – ' + clock(r.end_s);
  $('event-caption').textContent = r.caption;
  if (r.clip_url) {
    video.hidden = false;
    video.src = r.clip_url;
    video.play().catch(() => { /* autoplay may be refused; the controls remain */ });
  } else {
    video.hidden = true;
    video.removeAttribute('src');
  }
  $('event-dialog').showModal();
}

function closeEvent() {
  const video = $('event-video');
  video.pause();
  $('event-dialog').close();
}

// ---- ask ----------------------------------------------------------------------------------------
async function ask(event) {
  event.preventDefault();
  const path = $('ask-media').value;
  const out = $('ask-answer');
  out.className = '';
  out.textContent = '';
  const content = [{ type: 'text', text: $('ask-question').value }];
  if (path) {
    const isImage = /\.(png|jpe?g|bmp|webp|tiff?)$/i.test(path);
    content.push(isImage ? { type: 'image_url', image_url: { url: path } } : { type: 'video_url', video_url: { url: path } });
  }
  $('ask-button').disabled = true;
  try {
    const res = await api('/v1/chat/completions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content }], stream: true }),
    });
    await readEvents(res, (name, data) => {
      if (data === '[DONE]') return;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(chunk.error.message);
      const delta = chunk.choices[0] && chunk.choices[0].delta;
      if (delta && delta.content) out.textContent += delta.content;
    });
    out.dataset.done = 'true';
  } catch (e) {
    out.className = 'error';
    out.textContent = e.message;
  } finally {
    $('ask-button').disabled = false;
  }
}

// ---- summarize ----------------------------------------------------------------------------------
async function summarize(event) {
  event.preventDefault();
  const progress = $('summary-progress');
  const message = $('summary-message');
  const segments = $('summary-segments');
  message.className = '';
  message.textContent = 'Starting…';
  $('summary-text').textContent = '';
  segments.replaceChildren();
  const file = $('summary-file').files[0];
  const segment = $('summary-segment').value.trim();
  let body, headers = {};
  if (file) {
    body = new FormData();
    body.append('file', file);
    body.append('stream', 'true');
    if (segment) body.append('segment', JSON.stringify(segment));
  } else {
    const options = { video: $('summary-media').value, stream: true };
    if (segment) options.segment = segment;
    body = JSON.stringify(options);
    headers['Content-Type'] = 'application/json';
  }
  $('summary-button').disabled = true;
  progress.hidden = false;
  progress.value = 0;
  try {
    const res = await api('/v1/summarize', { method: 'POST', headers, body });
    await readEvents(res, (name, data) => {
      const d = JSON.parse(data);
      if (name === 'progress') {
        progress.max = d.total;
        progress.value = d.done;
        message.textContent = d.detail + ' (' + d.done + '/' + d.total + ')';
      } else if (name === 'error') {
        throw new Error(d.error.message);
      } else if (name === 'summary') {
        showSummary(d.summary, d.thumbnails);
        message.textContent = 'Done: ' + d.summary.segments.length + ' segments';
      }
    });
  } catch (e) {
    message.className = 'error';
    message.textContent = e.message;
  } finally {
    $('summary-button').disabled = false;
    progress.hidden = true;
  }
}

function showSummary(summary, thumbnails) {
  $('summary-text').textContent = summary.summary || '';
  const list = $('summary-segments');
  summary.segments.forEach((s, i) => {
    const li = el('li');
    if (thumbnails[i]) li.append(el('img', { src: thumbnails[i], alt: 'Frame at ' + clock(s.thumbnail_time_s || s.start_s) }));
    const meta = el('div', { class: 'meta' });
    meta.append(el('time', {}, clock(s.start_s) + ' – ' + clock(s.end_s)));
    meta.append(el('p', {}, s.caption));
    li.append(meta);
    list.append(li);
  });
}

// ---- wiring -------------------------------------------------------------------------------------
$('search-form').addEventListener('submit', search);
$('ask-form').addEventListener('submit', ask);
$('summary-form').addEventListener('submit', summarize);
$('event-close').addEventListener('click', closeEvent);
$('event-dialog').addEventListener('close', () => $('event-video').pause());
$('api-key').value = apiKey();
$('key-form').addEventListener('submit', (e) => { e.preventDefault(); storeKey($('api-key').value.trim()); loadStatus(); });
loadStatus();
