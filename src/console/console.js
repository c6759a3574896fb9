// The casebridge console: a view of the admin API for the people who run casebridge. Every
// figure and action here is an admin API route; the console adds no rule of its own. The admin
// token is kept in this tab's session storage, sent as a bearer header, never in a URL. Text
// from the API is set as text, never parsed as HTML.
'use strict';

const TOKEN_KEY = 'casebridge.admin-token';

// The transfer log's outcomes (docs/transfer-log.md).
const OUTCOMES = ['sent', 'withheld', 'consent_withdrawn', 'failed', 'acknowledged', 'rejected',
  'delivery_failed', 'purged', 'reconciled', 'flagged', 'unflagged', 'review_resolved',
  'review_dismissed'];

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

// el('td', {class: 'num'}, 'text', child, ...): an element with attributes and children.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') {
      e.className = v;
    } else if (k.startsWith('on')) {
      e.addEventListener(k.slice(2), v);
    } else if (v !== false && v !== undefined && v !== null) {
      e.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) {
      continue;
    }
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function say(text, kind) {
  const s = document.getElementById('status');
  s.textContent = text || '';
  s.className = kind || '';
}

class SignedOut extends Error {}

// The newest render wins: one started earlier never overwrites it.
let renders = 0;
let rendering = '';  // the page the newest render draws

// An action answered in place (a review decision, a retry, a dry run, a plan) supersedes a
// render of the same page started before it. Such a render may have read the list before the
// action changed it; drawn after the answer, it would replace the row and drop the result the
// operator is waiting for. A render asked for afterwards (Refresh), or one of another page
// (the operator moved on), still draws.
function answerInPlace() {
  if (rendering === document.getElementById('page').dataset.loaded) {
    ++renders;
  }
}

// One admin API call (`body`: an object sent as JSON, or a string sent as a CSV file's text).
// A 401 ends the session: the token was refused or changed.
async function call(method, path, body) {
  const t = token();
  if (!t) {
    throw new SignedOut();
  }
  const headers = {Authorization: 'Bearer ' + t};
  // A string is a file's text (a review file), sent as it is; anything else as JSON.
  const text = typeof body === 'string';
  if (body !== undefined) {
    headers['Content-Type'] = text ? 'text/csv; charset=utf-8' : 'application/json';
  }
  const r = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : text ? body : JSON.stringify(body),
    cache: 'no-store',
    credentials: 'omit',
  });
  if (r.status === 401) {
    signOut('The admin token was refused. Sign in again.');
    throw new SignedOut();
  }
  const type = r.headers.get('Content-Type') || '';
  const answer = type.startsWith('application/json') ? await r.json() : await r.text();
  return {status: r.status, body: answer};
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  show();
  document.getElementById('sign-in-error').textContent = message || '';
}

function table(headers, rows) {
  return el('table', {},
    el('thead', {}, el('tr', {}, headers.map((h) => el('th', {scope: 'col'}, h)))),
    el('tbody', {}, rows));
}

function num(v) {
  return el('td', {class: 'num'}, v === undefined || v === null ? '' : v.toLocaleString('en'));
}

function flowState(f) {
  if (f.credentials_refused) {
    return el('span', {class: 'state-refused'}, 'credentials refused');
  }
  if (f.running) {
    return el('span', {class: 'state-running'}, 'running');
  }
  if (f.paused) {
    return el('span', {class: 'state-paused'}, 'paused');
  }
  return el('span', {}, 'idle');
}

// ---- a chart of records per day by outcome (inline SVG, no library) -----------------------

const SVG = 'http://www.w3.org/2000/svg';
const COLOURS = {sent: '#1d6b34', withheld: '#7a8594', consent_withdrawn: '#c76b00',
  failed: '#a61b1b'};

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    e.setAttribute(k, String(v));
  }
  for (const c of children) {
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function dailyChart(activity) {
  const days = [];
  const start = new Date(activity.since);
  for (let i = 0; i < activity.days; ++i) {
    days.push(new Date(start.getTime() + i * 86400000).toISOString().slice(0, 10));
  }
  const byDay = new Map(days.map((d) => [d, {}]));
  const outcomes = new Set();
  for (const c of activity.counts) {
    if (byDay.has(c.day)) {
      byDay.get(c.day)[c.outcome] = c.count;
      outcomes.add(c.outcome);
    }
  }
  const order = [...outcomes].sort((a, b) =>
    (COLOURS[a] ? 0 : 1) - (COLOURS[b] ? 0 : 1) || a.localeCompare(b));
  const max = Math.max(1, ...days.map((d) =>
    Object.values(byDay.get(d)).reduce((n, v) => n + v, 0)));
  const W = 720;
  const H = 200;
  const left = 40;
  const bottom = 24;
  const bw = (W - left) / days.length;
  const chart = svg('svg', {viewBox: `0 0 ${W} ${H + 20}`, width: W, height: H + 20,
    role: 'img', 'aria-label': 'Transfer entries per day by outcome', id: 'daily-chart'});
  chart.append(svg('text', {x: 0, y: 12, 'font-size': 11, fill: '#5b6575'}, max),
    svg('text', {x: 0, y: H - bottom, 'font-size': 11, fill: '#5b6575'}, 0),
    svg('line', {x1: left, y1: H - bottom, x2: W, y2: H - bottom, stroke: '#d8dde5'}));
  days.forEach((d, i) => {
    let y = H - bottom;
    for (const o of order) {
      const n = byDay.get(d)[o] || 0;
      if (!n) {
        continue;
      }
      const h = (n / max) * (H - bottom - 16);
      y -= h;
      chart.append(svg('rect', {x: left + i * bw + 2, y, width: Math.max(1, bw - 4), height: h,
        fill: COLOURS[o] || '#0b5cad', 'data-day': d, 'data-outcome': o},
      svg('title', {}, d + ': ' + n + ' ' + o)));
    }
    if (days.length <= 31 && (i % Math.ceil(days.length / 8) === 0)) {
      chart.append(svg('text', {x: left + i * bw + 2, y: H - 6, 'font-size': 10,
        fill: '#5b6575'}, d.slice(5)));
    }
  });
  const legend = el('p', {class: 'legend'}, order.map((o) => el('span', {class: 'key'},
    svg('svg', {width: 10, height: 10}, svg('rect', {width: 10, height: 10,
      fill: COLOURS[o] || '#0b5cad'})), ' ' + o + '  ')));
  return el('figure', {}, chart, legend,
    el('figcaption', {}, 'Transfer entries per day (UTC) by outcome, last ' + activity.days +
      ' days.'));
}

// ---- pages -------------------------------------------------------------------------------

async function overview(page) {
  const {body} = await call('GET', '/flows');
  const flows = body.flows || [];
  const total = (k) => flows.reduce((n, f) => n + ((f.counts || {})[k] || 0), 0);
  const letters = await call('GET', '/dead-letters');
  const reviews = await call('GET', '/reviews');
  page.append(
    el('h2', {}, 'Overview'),
    el('div', {class: 'cards'},
      el('div', {class: 'card'}, el('b', {id: 'total-sent'}, total('sent').toLocaleString('en')),
        'sent since start'),
      el('div', {class: 'card'}, el('b', {}, total('withheld').toLocaleString('en')),
        'withheld'),
      el('div', {class: 'card'}, el('b', {}, total('consent_withdrawn').toLocaleString('en')),
        'consent withdrawn'),
      el('div', {class: 'card'},
        el('b', {id: 'dead-letter-count'}, (letters.body.dead_letters || []).length),
        el('a', {href: '#/dead-letters'}, 'dead letters')),
      el('div', {class: 'card'}, el('b', {}, (reviews.body.reviews || []).length),
        el('a', {href: '#/reviews'}, 'review items'))),
    el('p', {}, 'Counts are since the daemon started; the transfer log holds every event.'),
    dailyChart((await call('GET', '/activity?days=14')).body),
    table(['Flow', 'From → to', 'Purpose', 'State', 'Cursor moved', 'Sent', 'Withheld',
      'Withdrawn', 'Dead', 'Retries'],
    flows.map((f) => el('tr', {'data-flow': f.id},
      el('td', {class: 'id'}, f.id),
      el('td', {}, f.from + ' → ' + f.to),
      el('td', {}, f.purpose),
      el('td', {}, flowState(f)),
      el('td', {}, f.cursor_moved_at || 'never'),
      num(f.counts.sent), num(f.counts.withheld), num(f.counts.consent_withdrawn),
      num(f.counts.dead), num(f.counts.retries)))));
}

async function flowAction(id, action) {
  say('Asking ' + action + ' of ' + id + '…');
  const from = location.hash;
  const r = await call('POST', '/flows/' + encodeURIComponent(id) + '/' + action);
  const what = r.body && (r.body.status || r.body.error);
  say(id + ': ' + what + ' (HTTP ' + r.status + ')', r.status < 300 ? 'ok' : 'error');
  // A run can take a while; by its answer the operator may be on another page, perhaps
  // typing a review decision. Only the page the action was asked from is drawn again.
  if (location.hash === from) {
    await render();
  }
}

async function dryRun(id) {
  answerInPlace();
  say('Dry run of ' + id + ': reading and deciding, nothing is written…');
  const r = await call('POST', '/flows/' + encodeURIComponent(id) + '/dry-run');
  const out = document.getElementById('dry-run');
  if (r.status !== 200) {
    say(id + ': ' + ((r.body && r.body.error) || 'failed') + ' (HTTP ' + r.status + ')', 'error');
    return;
  }
  const c = r.body.counts;
  say('Dry run of ' + id + ' done: nothing was sent or stored.', 'ok');
  out.replaceChildren(
    el('h3', {}, 'Dry run of ' + id),
    el('p', {'data-dry-run': id},
      c.fetched + ' read: ' + c.would_send + ' would be sent, ' + c.withheld + ' withheld, ' +
      c.consent_withdrawn + ' withdrawals, ' + c.dead + ' held, ' + c.skipped +
      ' already settled' + (r.body.caught_up ? '; the source has nothing more.' : '.') +
      (r.body.records_left_out ? ' ' + r.body.records_left_out + ' more not listed.' : '')),
    table(['Record', 'Decision', 'Before', 'Basis', 'Reason', 'Fields sent', 'Fields withheld'],
      (r.body.records || []).map((x) => el('tr', {'data-record': x.source_id},
        el('td', {class: 'id'}, x.source_id),
        el('td', {}, x.decision),
        el('td', {}, x.prior),
        el('td', {}, x.basis),
        el('td', {class: 'id'}, x.reason),
        el('td', {}, fieldList(x.fields_sent)),
        el('td', {}, fieldList(x.fields_withheld))))));
}

async function flows(page) {
  const {body} = await call('GET', '/flows');
  page.append(
    el('h2', {}, 'Flows'),
    table(['Flow', 'From → to', 'Profile', 'Every', 'State', 'Actions'],
      (body.flows || []).map((f) => el('tr', {'data-flow': f.id},
        el('td', {class: 'id'}, f.id),
        el('td', {}, f.from + ' → ' + f.to),
        el('td', {class: 'id'}, f.profile),
        el('td', {}, f.every_seconds ? f.every_seconds + ' s' : 'on demand'),
        el('td', {}, flowState(f)),
        el('td', {},
          el('button', {type: 'button', 'data-action': 'run', disabled: f.running,
            onclick: () => flowAction(f.id, 'run')}, 'Run now'), ' ',
          el('button', {type: 'button', 'data-action': 'dry-run', disabled: f.running,
            onclick: () => dryRun(f.id)}, 'Dry run'), ' ',
          f.paused
            ? el('button', {type: 'button', 'data-action': 'resume',
              onclick: () => flowAction(f.id, 'resume')}, 'Resume')
            : el('button', {type: 'button', 'data-action': 'pause',
              onclick: () => flowAction(f.id, 'pause')}, 'Pause'))))),
    el('section', {id: 'dry-run'}));
}

function fieldList(list) {
  if (!Array.isArray(list) || list.length === 0) {
    return '';
  }
  return el('details', {}, el('summary', {}, list.length + ' field' + (list.length > 1 ? 's' : '')),
    el('ul', {}, list.map((f) => el('li', {class: 'id'}, f))));
}

function consentText(consent) {
  if (!Array.isArray(consent) || consent.length === 0) {
    return '';
  }
  return consent.map((c) => (c.field || '') + ' = ' +
    ((c.values || []).length ? c.values.join(', ') : 'none')).join('; ');
}

async function transfers(page) {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const {body: fb} = await call('GET', '/flows');
  const q = new URLSearchParams();
  for (const k of ['flow', 'since', 'limit', 'record', 'to', 'outcome', 'reason']) {
    if (params.get(k)) {
      q.set(k, params.get(k));
    }
  }
  q.set('order', params.get('order') === 'oldest' ? 'oldest' : 'newest');
  const r = await call('GET', '/transfers' + (q.toString() ? '?' + q : ''));
  const form = el('form', {id: 'transfer-filter',
    onsubmit: (ev) => {
      ev.preventDefault();
      const f = new FormData(ev.target);
      const next = new URLSearchParams();
      for (const [k, v] of f.entries()) {
        if (v) {
          next.set(k, v);
        }
      }
      location.hash = '#/transfers' + (next.toString() ? '?' + next : '');
    }},
  el('label', {}, 'Flow', el('select', {name: 'flow'}, el('option', {value: ''}, 'all'),
    (fb.flows || []).map((f) => el('option', {value: f.id, selected: params.get('flow') === f.id},
      f.id)))),
  el('label', {}, 'Record id', el('input', {name: 'record', value: params.get('record') || '',
    size: 14})),
  el('label', {}, 'Recipient system', el('input', {name: 'to', value: params.get('to') || '',
    size: 10})),
  el('label', {}, 'Outcome', el('select', {name: 'outcome'}, el('option', {value: ''}, 'any'),
    OUTCOMES.map((o) => el('option', {value: o, selected: params.get('outcome') === o}, o)))),
  el('label', {}, 'Reason code', el('input', {name: 'reason', value: params.get('reason') || '',
    size: 14})),
  el('label', {}, 'Since (RFC 3339)', el('input', {name: 'since', value: params.get('since') || '',
    placeholder: '2026-12-01T00:00:00Z'})),
  el('label', {}, 'At most', el('input', {name: 'limit', type: 'number', min: 1, max: 10000,
    value: params.get('limit') || 100})),
  el('label', {}, 'Order', el('select', {name: 'order'},
    el('option', {value: 'newest', selected: params.get('order') !== 'oldest'}, 'newest first'),
    el('option', {value: 'oldest', selected: params.get('order') === 'oldest'}, 'oldest first'))),
  el('button', {type: 'submit'}, 'Show'));
  const verdict = el('p', {id: 'verify-result'});
  page.append(el('h2', {}, 'Transfer log'), form,
    el('p', {}, el('button', {type: 'button', 'data-action': 'verify',
      onclick: () => verifyLog(verdict)}, 'Verify the log'), ' ',
    'recomputes the hash chain and checks the signed checkpoints (reads the whole log).'),
    verdict);
  if (r.status !== 200) {
    page.append(el('p', {class: 'error'}, 'The log could not be read: ' +
      ((r.body && r.body.error) || r.status)));
    return;
  }
  const entries = r.body.entries || [];
  page.append(
    el('p', {}, entries.length + ' entries, ' + (q.get('order') === 'oldest' ? 'oldest' : 'newest') +
      ' first. Each is hash-chained; ' +
      '`casebridge log verify` checks the chain and the signed checkpoints.'),
    table(['#', 'Time', 'Flow', 'Dir', 'Outcome', 'Source', 'Target', 'Basis', 'Consent',
      'Reason', 'Profile', 'Fields sent', 'Fields withheld'],
    entries.map((e) => el('tr', {'data-seq': e.seq},
      num(e.seq),
      el('td', {}, e.ts || ''),
      el('td', {class: 'id'}, e.flow || ''),
      el('td', {}, e.direction || ''),
      el('td', {}, e.outcome || ''),
      el('td', {class: 'id'}, [e.source_system, e.source_id].filter(Boolean).join(':')),
      el('td', {class: 'id'}, [e.target_system, e.target_id].filter(Boolean).join(':')),
      el('td', {}, e.legitimate_basis || ''),
      el('td', {class: 'id'}, consentText(e.consent)),
      el('td', {class: 'id'}, e.reason || ''),
      el('td', {class: 'id', title: e.profile_hash || ''},
        e.profile_id ? e.profile_id + ' v' + e.profile_version : ''),
      el('td', {}, fieldList(e.fields_sent)),
      el('td', {}, fieldList(e.fields_withheld))))));
}

async function verifyLog(out) {
  answerInPlace();
  out.replaceChildren('verifying…');
  const r = await call('POST', '/log/verify');
  if (r.status !== 200) {
    out.replaceChildren(el('span', {class: 'error'}, 'could not verify: ' +
      ((r.body && r.body.error) || r.status)));
    return;
  }
  const v = r.body;
  const cp = v.latest_checkpoint;
  out.replaceChildren(
    el('span', {class: v.ok ? 'ok' : 'error', 'data-verified': v.ok ? 'ok' : 'broken'},
      v.ok ? 'The log verifies: ' + v.entries.toLocaleString('en') + ' entries, ' +
        v.checkpoints + ' signed checkpoints.'
        : 'The log does NOT verify: ' + v.problem + (v.bad_seq ? ' (entry ' + v.bad_seq + ')' : '')),
    cp ? el('span', {}, ' Latest checkpoint: ' + cp.size.toLocaleString('en') + ' entries at ' +
      cp.ts + ', head ', el('code', {title: cp.head_hash}, cp.head_hash.slice(0, 16) + '…'),
      ', key ', el('code', {title: cp.public_key}, cp.public_key.slice(0, 16) + '…'), '.') : '');
}

async function retry(id, cell) {
  answerInPlace();
  cell.replaceChildren('retrying…');
  const r = await call('POST', '/dead-letters/' + encodeURIComponent(id) + '/retry');
  if (r.status === 200) {
    cell.replaceChildren(el('span', {class: 'ok', 'data-result': r.body.outcome},
      r.body.outcome + (r.body.reason ? ' (' + r.body.reason + ')' : '')));
  } else {
    cell.replaceChildren(el('span', {class: 'error', 'data-result': 'error'},
      ((r.body && r.body.error) || 'failed') + ' (HTTP ' + r.status + ')'));
  }
}

async function deadLetters(page) {
  const {body} = await call('GET', '/dead-letters');
  const letters = body.dead_letters || [];
  const retryAll = async () => {
    // One at a time: each retry takes its flow, so two of one flow would refuse each other.
    for (const row of document.querySelectorAll('tr[data-letter]')) {
      const cell = row.querySelector('td.result');
      if (!cell.hasChildNodes()) {
        await retry(row.dataset.letter, cell);
      }
    }
    say('Retried every listed dead letter; each row shows its outcome.', 'ok');
  };
  page.append(
    el('h2', {}, 'Dead letters'),
    letters.length > 1 ? el('p', {}, el('button', {type: 'button', 'data-action': 'retry-all',
      onclick: retryAll}, 'Retry all listed')) : '',
    el('p', {}, letters.length
      ? 'Records held for a person. A retry reads the record fresh from its source and ' +
        'decides it again; the answer shows here.'
      : 'No dead letters.'),
    letters.length ? table(['Id', 'Since', 'Flow', 'Record', 'Reason', 'Fields', 'Retry', 'Result'],
      letters.map((d) => {
        const result = el('td', {class: 'result'});
        return el('tr', {'data-letter': d.id},
          num(d.id),
          el('td', {}, d.created_at),
          el('td', {class: 'id'}, d.flow),
          el('td', {class: 'id'}, d.source_system + ':' + d.source_id),
          el('td', {class: 'id'}, d.reason),
          el('td', {class: 'id'}, (d.fields || []).join(', ')),
          el('td', {}, el('button', {type: 'button', 'data-action': 'retry',
            onclick: () => retry(d.id, result)}, 'Retry')),
          result);
      })) : '');
}

async function decide(id, form, cell) {
  answerInPlace();
  const f = new FormData(form);
  const r = await call('POST', '/reviews/' + encodeURIComponent(id) + '/decide',
    {decision: f.get('decision'), reason: f.get('reason')});
  if (r.status === 200) {
    for (const c of form.elements) {
      c.disabled = true;
    }
    cell.replaceChildren(el('span', {class: 'ok', 'data-result': r.body.decision},
      'closed as ' + r.body.decision + '; reason digest ' + r.body.reason_sha256.slice(0, 12) +
      '… (keep your note: the log holds only its digest)'));
  } else {
    cell.replaceChildren(el('span', {class: 'error', 'data-result': 'error'},
      ((r.body && r.body.error) || 'failed') + ' (HTTP ' + r.status + ')'));
  }
}

async function reviews(page) {
  const {body} = await call('GET', '/reviews');
  const items = body.reviews || [];
  page.append(
    el('h2', {}, 'Review items'),
    el('p', {}, items.length
      ? 'Consent withdrawn after sharing, several matching records, a shared record ' +
        'disabled at its source: each needs a person. Close an item with a written reason; ' +
        'the transfer log records the decision, who made it and the digest of the reason ' +
        '(never its text, which may name a child).'
      : 'No open review items.'),
    items.length ? table(['Id', 'Since', 'Flow', 'Kind', 'Record', 'At the recipient',
      'Decision', 'Result'],
    items.map((v) => {
      const result = el('td', {class: 'result'});
      const form = el('form', {class: 'decide',
        onsubmit: (ev) => {
          ev.preventDefault();
          decide(v.id, ev.target, result);
        }},
      el('label', {}, 'Decision', el('select', {name: 'decision'},
        el('option', {value: 'resolved'}, 'resolved'),
        el('option', {value: 'dismissed'}, 'dismissed'))),
      el('label', {}, 'Reason', el('input', {name: 'reason', required: true, maxlength: 2000,
        autocomplete: 'off'})),
      el('button', {type: 'submit', 'data-action': 'decide'}, 'Close item'));
      return el('tr', {'data-review': v.id},
        num(v.id),
        el('td', {}, v.created_at),
        el('td', {class: 'id'}, v.flow),
        el('td', {class: 'id'}, v.kind),
        el('td', {class: 'id'}, v.source_system + ':' + v.source_id),
        el('td', {class: 'id'}, v.target_id ? v.target_system + ':' + v.target_id : ''),
        el('td', {}, form),
        result);
    })) : '');
}

// ---- caseload hand-over: plan, review file, check, execute with progress ----------------

const HANDOVER_COUNTS = ['transfer', 'needs_consent_confirmation', 'already_transferred',
  'awaiting_acknowledgement', 'withheld', 'held'];
const OUTCOME_COUNTS = ['transferred', 'already_transferred', 'awaiting_acknowledgement',
  'withheld', 'held', 'not_processed'];

function countsTable(id, order, counts) {
  const keys = order.filter((k) => k in counts).concat(
    Object.keys(counts).filter((k) => !order.includes(k)).sort());
  return el('table', {id, class: 'counts'}, el('tbody', {},
    keys.map((k) => el('tr', {'data-count': k}, el('th', {scope: 'row'}, k), num(counts[k])))));
}

// A link that saves `text` as a file named `name` (made in the page: nothing is fetched).
function downloadLink(text, name, type, label, id) {
  const url = URL.createObjectURL(new Blob([text], {type}));
  return el('a', {href: url, download: name, id, class: 'download'}, label);
}

function flowPath(flow, rest) {
  return '/flows/' + encodeURIComponent(flow) + '/caseload' + (rest || '');
}

let handoverPoll = 0;  // the newest poll wins

async function showHandover(flow, out) {
  const mine = ++handoverPoll;
  for (;;) {
    const r = await call('GET', flowPath(flow));
    if (mine !== handoverPoll || !document.body.contains(out)) {
      return;
    }
    const j = r.body;
    if (r.status !== 200 || j.state === 'none') {
      out.replaceChildren();
      return;
    }
    if (j.state === 'running') {
      out.replaceChildren(el('h3', {}, 'Hand-over in progress'),
        el('p', {}, el('progress', {id: 'handover-progress', max: j.total || 1, value: j.done}),
          ' ', el('span', {id: 'handover-done'}, j.done + ' of ' + j.total + ' records'),
          ', started ' + j.started_at + '. Each record is read fresh from the source and ' +
          'decided again; the transfer log records each one.'));
      await new Promise((done) => setTimeout(done, 500));
      continue;
    }
    if (j.state === 'failed') {
      out.replaceChildren(el('p', {class: 'error', 'data-handover': 'failed'},
        'The hand-over started at ' + j.started_at + ' failed; the transfer log shows what ' +
        'was sent. Running it again sends nothing twice.'));
      return;
    }
    const o = j.outcome;
    const receipt = JSON.stringify(o.receipt, null, 2) + '\n';
    out.replaceChildren(
      el('h3', {}, 'Hand-over of ' + flow + ' finished'),
      el('p', {'data-handover': 'finished'}, j.total + ' confirmed, started ' + j.started_at +
        '. ' + o.not_handed_over + ' records not handed over (listed in the receipt with ' +
        'their reasons).' + (o.stopped_early ? ' It stopped early (' + o.stopped_early +
        '): run it again, nothing is sent twice.' : '')),
      countsTable('handover-outcome', OUTCOME_COUNTS, o.counts),
      el('p', {}, downloadLink(receipt, 'caseload-' + flow + '-receipt.json', 'application/json',
        'Download the receipt', 'receipt-link'),
      o.receipt_file ? ' (also kept by the daemon as ' + o.receipt_file + ')' : ''),
      el('p', {}, 'The receipt lists the ids transferred and their new ids, what was not ' +
        'handed over and why, the digests of override reasons and the transfer log\'s latest ' +
        'signed checkpoint: give it to the receiving agency.'));
    return;
  }
}

async function handover(page) {
  const {body} = await call('GET', '/flows');
  const sending = (body.flows || []).filter((f) => f.purpose !== 'acknowledgement');
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const flow = sending.some((f) => f.id === params.get('flow')) ? params.get('flow')
    : (sending[0] || {}).id;
  page.append(el('h2', {}, 'Caseload hand-over'));
  if (!flow) {
    page.append(el('p', {}, 'No flow sends cases.'));
    return;
  }
  const planOut = el('section', {id: 'plan-result'});
  const checkOut = el('section', {id: 'check-result'});
  const runOut = el('section', {id: 'handover-result'});
  let reviewed = null;  // {name, text} of the file that passed its check

  const makePlan = async (button) => {
    answerInPlace();
    button.disabled = true;
    planOut.replaceChildren('Planning: every record of the source is read and decided; ' +
      'nothing is sent…');
    const r = await call('POST', flowPath(flow, '/plan'));
    button.disabled = false;
    if (r.status !== 200) {
      planOut.replaceChildren(el('p', {class: 'error'}, 'No plan: ' +
        ((r.body && (r.body.detail || r.body.error)) || 'failed') + ' (HTTP ' + r.status + ')'));
      return;
    }
    planOut.replaceChildren(
      el('p', {'data-plan': r.body.records}, r.body.records + ' records planned (' +
        r.body.from + ' → ' + r.body.to + ', profile ' + r.body.profile + '):'),
      countsTable('plan-counts', HANDOVER_COUNTS, r.body.counts),
      el('p', {}, downloadLink(r.body.review_file, 'caseload-' + flow + '-review.csv',
        'text/csv', 'Download the review file', 'plan-link'),
      '. In it, write yes in confirm for each record to hand over; a record that needs ' +
      'consent confirmation also needs a written override_reason. Leave the other columns ' +
      'as they are: each row carries a check of them.'));
  };

  const check = async (input, execute) => {
    answerInPlace();
    reviewed = null;
    execute.disabled = true;
    const file = input.files[0];
    if (!file) {
      checkOut.replaceChildren();
      return;
    }
    const text = await file.text();
    checkOut.replaceChildren('Checking ' + file.name + '…');
    const r = await call('POST', flowPath(flow, '/check?file=' + encodeURIComponent(file.name)),
      text);
    if (r.status !== 200) {
      checkOut.replaceChildren(el('p', {class: 'error'}, 'Not checked: ' +
        ((r.body && r.body.error) || 'failed') + ' (HTTP ' + r.status + ')'));
      return;
    }
    const c = r.body;
    if (!c.accepted) {
      checkOut.replaceChildren(
        el('p', {class: 'error', 'data-check': 'refused'}, 'The file would be refused whole (' +
          c.problem_count + ' problem' + (c.problem_count > 1 ? 's' : '') + '); nothing can ' +
          'be sent from it. Correct these rows and choose the file again:'),
        el('ul', {id: 'check-problems'}, c.problems.map((p) => el('li', {class: 'id'}, p))));
      return;
    }
    reviewed = {name: file.name, text};
    execute.disabled = c.to_transfer === 0;
    checkOut.replaceChildren(el('p', {class: 'ok', 'data-check': 'accepted'},
      file.name + ' is accepted: ' + c.to_transfer + ' records to hand over (' + c.overrides +
      ' on a confirmed consent, each reason kept as its digest), ' + c.not_confirmed +
      ' not confirmed.'));
  };

  const execute = async (button) => {
    answerInPlace();
    if (!reviewed) {
      return;
    }
    button.disabled = true;
    const r = await call('POST', flowPath(flow, '/execute?file=' +
      encodeURIComponent(reviewed.name)), reviewed.text);
    if (r.status !== 202) {
      runOut.replaceChildren(el('p', {class: 'error', 'data-handover': 'refused'},
        'Not started: ' + ((r.body && r.body.error) || 'failed') + ' (HTTP ' + r.status + ')'),
      r.body && r.body.problems ? el('ul', {}, r.body.problems.map((p) => el('li', {}, p))) : '');
      return;
    }
    say('Hand-over of ' + flow + ' started: ' + r.body.to_transfer + ' records.', 'ok');
    await showHandover(flow, runOut);
  };

  const executeButton = el('button', {type: 'button', 'data-action': 'execute', disabled: true,
    onclick: (ev) => execute(ev.target)}, 'Hand over the confirmed records');
  const fileInput = el('input', {type: 'file', id: 'review-file', accept: '.csv,text/csv',
    onchange: (ev) => check(ev.target, executeButton)});
  page.append(
    el('form', {id: 'handover-flow', onsubmit: (ev) => {
      ev.preventDefault();
      location.hash = '#/caseload?flow=' + encodeURIComponent(new FormData(ev.target).get('flow'));
    }},
    el('label', {}, 'Flow', el('select', {name: 'flow'}, sending.map((f) =>
      el('option', {value: f.id, selected: f.id === flow}, f.id + ' (' + f.from + ' → ' +
        f.to + ')')))),
    el('button', {type: 'submit'}, 'Choose')),
    el('p', {}, 'At project end an agency hands its open cases to another: a plan of every ' +
      'record, a person\'s review of each case\'s consent in the review file, then the ' +
      'hand-over of exactly the confirmed records. Pause the flow first so that its ' +
      'schedule does not hold it.'),
    el('h3', {}, '1. Plan'),
    el('p', {}, el('button', {type: 'button', 'data-action': 'plan',
      onclick: (ev) => makePlan(ev.target)}, 'Make the plan')),
    planOut,
    el('h3', {}, '2. Check the reviewed file'),
    el('p', {}, el('label', {}, 'Review file ', fileInput)),
    checkOut,
    el('h3', {}, '3. Hand over'),
    el('p', {}, executeButton),
    runOut);
  showHandover(flow, runOut);
}

// ---- the CPSS IMO's hub (the console served by `hub serve`) ------------------------------

async function hubOverview(page) {
  const {body: st} = await call('GET', '/hub/stats');
  const card = (id, n, text, link) => el('div', {class: 'card'},
    el('b', {id}, (n || 0).toLocaleString('en')), link ? el('a', {href: link}, text) : text);
  page.append(
    el('h2', {}, 'Sector hub'),
    el('div', {class: 'cards'},
      card('hub-clusters', st.clusters, 'children (after de-duplication)'),
      card('hub-multi', st.multi_agency_clusters, 'served by two or more agencies'),
      card('hub-auto', st.automatic_matches, 'automatic matches'),
      card('hub-reviews', st.review_items, 'pairs to review', '#/duplicates'),
      card('hub-within', st.within_agency_duplicates, 'possible duplicates within an agency')),
    el('p', {}, st.last_linkage ? 'Last linkage ' + st.last_linkage + '.' : 'No linkage yet.',
      ' Records are privacy-preserving encodings made at each agency: no name, date or ',
      'identifier reaches the hub.'),
    table(['Agency', 'Active records', 'Withdrawn'],
      (st.agencies || []).map((a) => el('tr', {'data-agency': a.id},
        el('td', {class: 'id'}, a.id), num(a.active_records), num(a.withdrawn_records)))));
}

async function decidePair(item, form, cell) {
  answerInPlace();
  const f = new FormData(form);
  const r = await call('POST', '/hub/reviews/' + encodeURIComponent(item.id) + '/decide', {
    decision: f.get('decision'),
    agency_a: item.agency_a, pseudonym_a: item.pseudonym_a,
    agency_b: item.agency_b, pseudonym_b: item.pseudonym_b,
  });
  if (r.status === 200) {
    for (const c of form.elements) {
      c.disabled = true;
    }
    cell.replaceChildren(el('span', {class: 'ok', 'data-result': r.body.decision},
      'recorded: ' + (r.body.decision === 'same' ? 'the same child' : 'not the same child') +
      (r.body.no_longer_held ? ' (a record was withdrawn meanwhile: nothing kept)' : '') +
      (r.body.relink_asked ? '; the hub is linking again' : '')));
  } else {
    cell.replaceChildren(el('span', {class: 'error', 'data-result': 'error'},
      (r.status === 409 ? 'the hub linked again since this page was read: refresh'
        : (r.body && r.body.error) || 'failed') + ' (HTTP ' + r.status + ')'));
  }
}

async function duplicates(page) {
  const {body} = await call('GET', '/hub/reviews');
  const items = body.reviews || [];
  page.append(
    el('h2', {}, 'Duplicate review'),
    el('p', {}, items.length
      ? 'Pairs of records of two agencies whose encodings scored between the thresholds. ' +
        'Ask each agency to look its case up by the pseudonym (their CPIMS+ holds the name), ' +
        'then record whether they are the same child. The hub remembers each decision, ' +
        'logs it with who made it, and links again.'
      : 'No pair waits for a person.'),
    items.length ? table(['Id', 'Agency A', 'Pseudonym A', 'Agency B', 'Pseudonym B', 'Score',
      'Decision', 'Result'],
    items.map((v) => {
      const result = el('td', {class: 'result'});
      const form = el('form', {class: 'decide',
        onsubmit: (ev) => {
          ev.preventDefault();
          decidePair(v, ev.target, result);
        }},
      el('label', {}, 'Decision', el('select', {name: 'decision'},
        el('option', {value: 'same'}, 'same child'),
        el('option', {value: 'not_same'}, 'not the same'))),
      el('button', {type: 'submit', 'data-action': 'decide-pair'}, 'Record'));
      return el('tr', {'data-pair': v.id},
        num(v.id),
        el('td', {class: 'id'}, v.agency_a),
        el('td', {class: 'id'}, v.pseudonym_a),
        el('td', {class: 'id'}, v.agency_b),
        el('td', {class: 'id'}, v.pseudonym_b),
        el('td', {class: 'num'}, Number(v.score).toFixed(3)),
        el('td', {}, form),
        result);
    })) : '');
}

// Fetches a file with the token and offers it as a download (a link cannot carry the token).
async function downloadFile(path, name, button) {
  const r = await fetch(path, {headers: {Authorization: 'Bearer ' + token()}, cache: 'no-store',
    credentials: 'omit'});
  if (r.status === 401) {
    signOut('The admin token was refused. Sign in again.');
    return;
  }
  if (!r.ok) {
    button.after(el('span', {class: 'error'}, ' not available (HTTP ' + r.status + ')'));
    return;
  }
  const blob = await r.blob();
  const a = el('a', {href: URL.createObjectURL(blob), download: name, hidden: true});
  document.body.append(a);
  a.click();
  a.remove();
  button.dataset.downloaded = String(blob.size);
}

async function hubReports(page) {
  const {body} = await call('GET', '/hub/reports');
  const reports = body.reports || [];
  page.append(
    el('h2', {}, 'Reports'),
    el('p', {}, reports.length
      ? 'De-duplicated sector figures and DPISP activity, as written (small cells already ' +
        'withheld). Each file downloads as it was published.'
      : 'No report written yet (reports.out_dir; `casebridge report run`).'),
    reports.length ? table(['Report', 'Period', 'Title', 'Written', 'Files'],
      reports.map((r) => el('tr', {'data-report': r.id + '/' + r.period},
        el('td', {class: 'id'}, r.id),
        el('td', {}, r.period),
        el('td', {}, r.title),
        el('td', {}, r.written_at),
        el('td', {}, r.files.map((f) => el('button', {type: 'button', class: 'file',
          'data-file': f, onclick: (ev) => downloadFile('/hub/reports/' +
            [r.id, r.period, f].map(encodeURIComponent).join('/'), r.id + '-' + r.period + '-' + f,
          ev.target)}, f)))))) : '');
}

// The console speaks to the daemon's admin API or to the hub's (`hub serve`): the page says
// which (data-service on its body).
function service() {
  return document.body.dataset.service === 'hub' ? 'hub' : 'daemon';
}

const hubPages = {
  'hub': hubOverview,
  'duplicates': duplicates,
  'reports': hubReports,
};

const pages = {
  'overview': overview,
  'flows': flows,
  'transfers': transfers,
  'dead-letters': deadLetters,
  'reviews': reviews,
  'caseload': handover,
};

function pageSet() {
  return service() === 'hub' ? hubPages : pages;
}

function currentPage() {
  const set = pageSet();
  const first = Object.keys(set)[0];
  const name = (location.hash.replace(/^#\//, '').split('?')[0]) || first;
  return Object.prototype.hasOwnProperty.call(set, name) ? name : first;
}

async function render() {
  const mine = ++renders;
  const page = document.getElementById('page');
  const name = currentPage();
  rendering = name;
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('current', a.getAttribute('href') === '#/' + name);
  }
  const next = el('div', {id: 'page-' + name});
  try {
    await pageSet()[name](next);
    if (mine !== renders) {
      return;
    }
    page.replaceChildren(next);
    page.dataset.loaded = name;
  } catch (e) {
    if (!(e instanceof SignedOut)) {
      say('The admin API could not be reached: ' + e.message, 'error');
    }
  }
}

function show() {
  for (const a of document.querySelectorAll('#nav a')) {
    a.hidden = (a.dataset.service || 'daemon') !== service();
  }
  const signedIn = Boolean(token());
  document.getElementById('sign-in-page').hidden = signedIn;
  document.getElementById('nav').hidden = !signedIn;
  document.getElementById('page').hidden = !signedIn;
  if (signedIn) {
    render();
  } else {
    document.getElementById('page').replaceChildren();
    say('');
  }
}

document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('sign-in').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const input = document.getElementById('token');
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    input.value = '';
    document.getElementById('sign-in-error').textContent = '';
    show();
  });
  document.getElementById('sign-out').addEventListener('click', () => signOut(''));
  document.getElementById('refresh').addEventListener('click', () => render());
  window.addEventListener('hashchange', () => {
    if (token()) {
      render();
    }
  });
  show();
});
