// cc112 wallboard: keeps the server-rendered board up to date without a reload.
//
// It listens to the live event stream (/api/v1/events, coalesced: a `changed` event at
// most every 500 ms) and, after one, fetches the
// board's state again (/api/v1/wallboard): at most once per 500 ms, and at least
// 250 ms after the event (the server publishes a new snapshot every 200 ms, so the
// fetch sees the event's effect); every 2 s anyway, and at once after a `lagged`
// event or a reconnection. One fetch at a time.
//
// Everything the server sends is inserted with textContent (never as HTML): caller
// numbers and display names are the caller's to choose. No inline style either: the
// page's Content-Security-Policy allows neither; state is shown by class names only.
(function () {
  "use strict";

  var lang = document.documentElement.lang === "en" ? "en" : "id";
  var STATE_URL = "/api/v1/wallboard?lang=" + lang;
  // Coalesced: one `changed` event at most every 500 ms, not every call's events (at a
  // busy hour the full stream is thousands of events a second per open wallboard).
  var EVENTS_URL = "/api/v1/events?coalesce=500";
  var MIN_GAP = 500;
  var AFTER_EVENT = 250;
  var PERIOD = 2000;
  var RECONNECT = 5000;

  var labels = null;
  var lastStart = 0;
  var timer = null;
  var dueAt = 0;
  var inFlight = false;
  var again = false;
  var streamUp = false;
  var draining = false;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) {
      e.className = cls;
    }
    if (text !== undefined && text !== null) {
      e.textContent = String(text);
    }
    return e;
  }

  function dur(s) {
    s = Math.max(0, Math.floor(s));
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    if (s >= 3600) {
      return Math.floor(s / 3600) + ":" + two(Math.floor(s / 60) % 60) + ":" + two(s % 60);
    }
    return Math.floor(s / 60) + ":" + two(s % 60);
  }

  function fill(id, children) {
    var box = document.getElementById(id);
    if (box) {
      box.replaceChildren.apply(box, children);
    }
  }

  function text(id, value) {
    var e = document.getElementById(id);
    if (e) {
      e.textContent = value;
    }
  }

  // ---- fetching ----------------------------------------------------------------

  function schedule(delay) {
    var at = Date.now() + delay;
    if (timer !== null && dueAt <= at) {
      return;
    }
    if (timer !== null) {
      clearTimeout(timer);
    }
    dueAt = at;
    timer = setTimeout(fetchState, Math.max(0, delay));
  }

  function soon() {
    schedule(Math.max(AFTER_EVENT, lastStart + MIN_GAP - Date.now()));
  }

  function fetchState() {
    timer = null;
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    lastStart = Date.now();
    fetch(STATE_URL, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 401) {
          // Logged out (token removed from the config): the page shows the form.
          window.location.reload();
          throw new Error("logged out");
        }
        if (!r.ok) {
          throw new Error("HTTP " + r.status);
        }
        return r.json();
      })
      .then(render)
      .catch(function () {
        showStatus(false);
      })
      .then(function () {
        inFlight = false;
        if (again) {
          again = false;
          soon();
        } else {
          schedule(PERIOD);
        }
      });
  }

  // ---- the event stream ----------------------------------------------------------

  function connect() {
    var source = new EventSource(EVENTS_URL);
    source.onopen = function () {
      streamUp = true;
      showStatus(true);
      schedule(0);
    };
    source.onerror = function () {
      streamUp = false;
      showStatus(false);
      // The browser reconnects by itself unless the server refused (401, 503).
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        setTimeout(connect, RECONNECT);
      }
    };
    source.addEventListener("changed", soon);
    source.addEventListener("lagged", function () {
      schedule(0);
    });
  }

  // ---- drawing -------------------------------------------------------------------

  function showStatus(ok) {
    var e = document.getElementById("status");
    if (!e || !labels) {
      return;
    }
    var up = ok && streamUp && !draining;
    e.className = "status " + (up ? "status-live" : "status-down");
    e.textContent = draining ? labels.draining : (up ? labels.live : labels.offline);
  }

  function render(b) {
    labels = b.labels;
    draining = b.draining;
    var s = b.shift;
    text("shift-name", s ? labels.shift + " " + s.name + " " + s.from + "\u2013" + s.until : "");
    fill("stats", stats(s));
    fill("departments", b.departments.map(department));
    fill("op-counts", b.operator_counts.map(function (c) {
      var li = el("li", "state-" + c.state);
      li.append(el("span", "n", c.count), " ", el("span", "label", c.label));
      return li;
    }));
    fill("operators", b.operators.map(operator));
    var old = document.getElementById("recent");
    if (old) {
      old.replaceWith(recent(b.recent, s !== null));
    }
    showStatus(true);
  }

  function stat(id, cls, big, label, small) {
    var d = el("div", "stat" + (cls ? " " + cls : ""));
    d.id = id;
    d.append(el("span", "big", big), el("span", "label", label));
    if (small !== null) {
      d.append(el("span", "small", small));
    }
    return d;
  }

  function stats(s) {
    if (!s) {
      return [el("p", "note", labels.no_records)];
    }
    return [
      stat("stat-within", s.on_target ? "good" : "bad", s.percent === null ? "\u2013" : s.percent + " %",
        labels.answered_within, s.answered_within + " / " + s.offered),
      stat("stat-abandoned", s.abandoned > 0 ? "bad" : "", s.abandoned, labels.abandoned,
        s.abandoned_ivr + " " + labels.abandoned_ivr),
      stat("stat-calls", "", s.calls, labels.calls, null)
    ].concat(classes(s.classes));
  }

  // Answer times per priority class: a small table in its own box (none before a
  // call of the shift reached a queue).
  function classes(list) {
    if (!list || list.length === 0) {
      return [];
    }
    var d = el("div", "stat classes");
    d.id = "stat-classes";
    var table = el("table");
    var head = el("tr");
    head.append(el("th"), el("th", null, "\u2264 15 s"), el("th", null, labels.avg_answer), el("th", null, labels.max_answer));
    var thead = el("thead");
    thead.append(head);
    var body = el("tbody");
    var secs = function (s) { return s === null ? "\u2013" : dur(s); };
    list.forEach(function (c) {
      var tr = el("tr", "class-" + c["class"]);
      var share = c.percent === null ? "\u2013" : c.percent + " % (" + c.answered_within + "/" + c.offered + ")";
      tr.append(el("th", null, c.label), el("td", null, share), el("td", null, secs(c.avg_answer_s)), el("td", null, secs(c.max_answer_s)));
      body.append(tr);
    });
    table.append(thead, body);
    d.append(el("span", "label", labels.by_class), table);
    return [d];
  }

  function department(d) {
    var a = el("article", "dept" + (d.waiting > 0 ? " busy" : "") + (d.late ? " late" : ""));
    a.id = "dept-" + d.id;
    a.dataset.queue = d.id;
    a.append(el("h3", "dept-name", d.name));
    var count = el("p", "count");
    count.append(el("span", "waiting", d.waiting), " ", el("span", "unit", labels.waiting));
    if (d.ringing > 0) {
      count.append(" ", el("span", "ringing", "(" + d.ringing + " " + labels.of_which_ringing + ")"));
    }
    a.append(count);
    if (d.longest_wait_s !== null) {
      var p = el("p", "longest" + (d.late ? " late" : ""));
      p.append(el("span", "label", labels.longest_wait), " ", el("span", "wait", dur(d.longest_wait_s)));
      a.append(p);
    }
    var ol = el("ol", "callers");
    d.callers.forEach(function (c) {
      var li = el("li", "caller" + (c.late ? " late" : "") + (c.ringing_at ? " offered" : ""));
      li.append(el("span", "num", c.number), " ", el("span", "name", c.name || ""), " ", el("span", "wait", dur(c.waited_s)));
      if (c.ringing_at) {
        li.append(" ", el("span", "at", labels.ringing_at + " " + c.ringing_at));
      }
      ol.append(li);
    });
    a.append(ol);
    if (d.more > 0) {
      a.append(el("p", "more", "+" + d.more + " " + labels.more));
    }
    return a;
  }

  function operator(o) {
    var li = el("li", "op state-" + o.state);
    li.id = "op-" + o.id;
    li.dataset.state = o.state;
    li.append(el("span", "op-name", o.name), " ", el("span", "state", o.state_label));
    if (o.reason) {
      li.append(" ", el("span", "reason", o.reason));
    }
    if (o.caller) {
      li.append(" ", el("span", "num", o.caller));
    }
    return li;
  }

  function recent(calls, haveRecords) {
    if (calls.length === 0) {
      var p = el("p", "note", haveRecords ? labels.no_calls : labels.no_records);
      p.id = "recent";
      return p;
    }
    var table = el("table", "recent-table");
    table.id = "recent";
    var head = el("tr");
    [labels.col_time, labels.col_caller, labels.col_department, labels.col_outcome, labels.col_answer]
      .forEach(function (h) { head.append(el("th", null, h)); });
    var thead = el("thead");
    thead.append(head);
    var tbody = el("tbody");
    calls.forEach(function (c) {
      var tr = el("tr", "outcome-" + c.outcome);
      var who = el("td");
      who.append(el("span", "num", c.number), " ", el("span", "name", c.name || ""));
      tr.append(el("td", null, c.time), who, el("td", null, c.department || "\u2013"),
        el("td", null, c.operator ? c.outcome_label + " (" + c.operator + ")" : c.outcome_label),
        el("td", null, c.answer_s === null ? "\u2013" : dur(c.answer_s)));
      tbody.append(tr);
    });
    table.append(thead, tbody);
    return table;
  }

  // ---- start ---------------------------------------------------------------------

  if (document.getElementById("board")) {
    schedule(0);
    connect();
  }
}());
