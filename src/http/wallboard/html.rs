//! The wallboard's HTML, rendered on the server: the board as it is now (so the page
//! shows the state without JavaScript, and at once), and the login form.
//!
//! Written by hand with one escaping function, [`escape`], through which every value
//! goes, ours or the caller's: five entities (`& < > " '`), so the same function is
//! safe in text and in quoted attributes, and control characters replaced (a caller
//! number may carry line breaks). A template crate (askama, maud) would do the same
//! escaping with a compile step and a dependency for two small pages; the structure
//! here mirrors the script's (`static/wallboard.js`), which redraws the same elements
//! with `textContent` only. No inline script and no `style` attribute: the
//! Content-Security-Policy forbids both.

use std::fmt::Write;

use super::assets;
use super::board::{duration, Board, Department, Operator, Recent, Shift};
use super::i18n::{Labels, Lang};

/// `s` escaped for HTML text and double- or single-quoted attribute values.
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn head(out: &mut String, lang: Lang, title: &str) {
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"referrer\" content=\"no-referrer\">\n<title>{}</title>\n<link rel=\"stylesheet\" href=\"/static/wallboard.css?v={}\">",
        lang.code(),
        escape(title),
        assets::CSS.version()
    );
}

/// The wallboard page.
pub(super) fn page(board: &Board, lang: Lang) -> String {
    let l = board.labels;
    let mut out = String::with_capacity(16 * 1024);
    head(&mut out, lang, &format!("cc112 · {}", l.title));
    let _ = writeln!(out, "<script src=\"/static/wallboard.js?v={}\" defer></script>\n</head>\n<body>", assets::JS.version());
    let _ = writeln!(
        out,
        "<header class=\"top\">\n<h1>{}</h1>\n<p id=\"shift-name\" class=\"shift-name\">{}</p>\n<p id=\"status\" class=\"status{}\">{}</p>\n<nav class=\"nav\"><a href=\"/?lang={}\" hreflang=\"{}\" lang=\"{}\">{}</a>\n<form method=\"post\" action=\"/logout\"><button type=\"submit\">{}</button></form></nav>\n</header>",
        escape(l.title),
        escape(&shift_name(board.shift.as_ref(), l)),
        if board.draining { " status-down" } else { "" },
        escape(if board.draining { l.draining } else { l.server_rendered }),
        lang.other().code(),
        lang.other().code(),
        lang.other().code(),
        escape(l.other_language),
        escape(l.logout),
    );
    let _ = writeln!(out, "<main id=\"board\" class=\"board\" data-lang=\"{}\">", lang.code());
    let _ = writeln!(out, "<section class=\"panel stats\" id=\"stats\">{}</section>", stats(board.shift.as_ref(), l));
    let _ = writeln!(out, "<section class=\"panel queues\"><h2>{}</h2>\n<div id=\"departments\" class=\"departments\">", escape(l.departments));
    for d in &board.departments {
        department(&mut out, d, l);
    }
    out.push_str("</div></section>\n");
    let _ = write!(out, "<section class=\"panel operators\"><h2>{}</h2>\n<ul id=\"op-counts\" class=\"op-counts\">", escape(l.operators));
    for c in &board.operator_counts {
        let _ = write!(out, "<li class=\"state-{}\"><span class=\"n\">{}</span> <span class=\"label\">{}</span></li>", escape(c.state), c.count, escape(c.label));
    }
    out.push_str("</ul>\n<ul id=\"operators\" class=\"operator-list\">\n");
    for o in &board.operators {
        operator(&mut out, o);
    }
    out.push_str("</ul></section>\n");
    let _ = writeln!(out, "<section class=\"panel recent\"><h2>{}</h2>", escape(l.recent));
    recent(&mut out, &board.recent, board.shift.is_some(), l);
    out.push_str("</section>\n</main>\n</body>\n</html>\n");
    out
}

/// `Shift siang 15:00–23:00`.
pub(super) fn shift_name(shift: Option<&Shift>, l: &Labels) -> String {
    shift.map_or_else(String::new, |s| format!("{} {} {}–{}", l.shift, s.name, s.from, s.until))
}

fn stats(shift: Option<&Shift>, l: &Labels) -> String {
    let Some(s) = shift else { return format!("<p class=\"note\">{}</p>", escape(l.no_records)) };
    let percent = s.percent.map_or_else(|| "–".to_string(), |p| format!("{p} %"));
    let mut out = format!(
        "<div class=\"stat{}\" id=\"stat-within\"><span class=\"big\">{}</span><span class=\"label\">{}</span><span class=\"small\">{} / {}</span></div>\
<div class=\"stat{}\" id=\"stat-abandoned\"><span class=\"big\">{}</span><span class=\"label\">{}</span><span class=\"small\">{} {}</span></div>\
<div class=\"stat\" id=\"stat-calls\"><span class=\"big\">{}</span><span class=\"label\">{}</span></div>",
        if s.on_target { " good" } else { " bad" },
        escape(&percent),
        escape(l.answered_within),
        s.answered_within,
        s.offered,
        if s.abandoned > 0 { " bad" } else { "" },
        s.abandoned,
        escape(l.abandoned),
        s.abandoned_ivr,
        escape(l.abandoned_ivr),
        s.calls,
        escape(l.calls),
    );
    classes(&mut out, s, l);
    out
}

/// Answer times per priority class (issue 16): a small table in its own box; nothing
/// before a call of the shift reached a queue.
fn classes(out: &mut String, s: &Shift, l: &Labels) {
    if s.classes.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<div class=\"stat classes\" id=\"stat-classes\"><span class=\"label\">{}</span><table><thead><tr><th></th><th>≤ 15 s</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        escape(l.by_class),
        escape(l.avg_answer),
        escape(l.max_answer)
    );
    let secs = |s: Option<u64>| s.map_or_else(|| "–".to_string(), duration);
    for c in &s.classes {
        let percent = c.percent.map_or_else(|| "–".to_string(), |p| format!("{p} % ({}/{})", c.answered_within, c.offered));
        let _ = write!(
            out,
            "<tr class=\"class-{}\"><th>{}</th><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(c.class),
            escape(c.label),
            escape(&percent),
            secs(c.avg_answer_s),
            secs(c.max_answer_s)
        );
    }
    out.push_str("</tbody></table></div>");
}

fn department(out: &mut String, d: &Department, l: &Labels) {
    let id = escape(&d.id);
    let _ = write!(
        out,
        "<article class=\"dept{}{}\" id=\"dept-{id}\" data-queue=\"{id}\">\n<h3 class=\"dept-name\">{}</h3>\n<p class=\"count\"><span class=\"waiting\">{}</span> <span class=\"unit\">{}</span>",
        if d.waiting > 0 { " busy" } else { "" },
        if d.late { " late" } else { "" },
        escape(&d.name),
        d.waiting,
        escape(l.waiting),
    );
    if d.ringing > 0 {
        let _ = write!(out, " <span class=\"ringing\">({} {})</span>", d.ringing, escape(l.of_which_ringing));
    }
    out.push_str("</p>\n");
    if let Some(w) = d.longest_wait_s {
        let _ = writeln!(out, "<p class=\"longest{}\"><span class=\"label\">{}</span> <span class=\"wait\">{}</span></p>", if d.late { " late" } else { "" }, escape(l.longest_wait), duration(w));
    }
    out.push_str("<ol class=\"callers\">");
    for c in &d.callers {
        let _ = write!(
            out,
            "<li class=\"caller{}{}\"><span class=\"num\">{}</span> <span class=\"name\">{}</span> <span class=\"wait\">{}</span>",
            if c.late { " late" } else { "" },
            if c.ringing_at.is_some() { " offered" } else { "" },
            escape(&c.number),
            escape(c.name.as_deref().unwrap_or("")),
            duration(c.waited_s),
        );
        if let Some(op) = &c.ringing_at {
            let _ = write!(out, " <span class=\"at\">{} {}</span>", escape(l.ringing_at), escape(op));
        }
        out.push_str("</li>");
    }
    out.push_str("</ol>\n");
    if d.more > 0 {
        let _ = writeln!(out, "<p class=\"more\">+{} {}</p>", d.more, escape(l.more));
    }
    out.push_str("</article>\n");
}

fn operator(out: &mut String, o: &Operator) {
    let _ = write!(
        out,
        "<li class=\"op state-{}\" id=\"op-{}\" data-state=\"{}\"><span class=\"op-name\">{}</span> <span class=\"state\">{}</span>",
        escape(o.state),
        escape(&o.id),
        escape(o.state),
        escape(&o.name),
        escape(o.state_label),
    );
    if let Some(r) = &o.reason {
        let _ = write!(out, " <span class=\"reason\">{}</span>", escape(r));
    }
    if let Some(c) = &o.caller {
        let _ = write!(out, " <span class=\"num\">{}</span>", escape(c));
    }
    out.push_str("</li>\n");
}

fn recent(out: &mut String, calls: &[Recent], have_records: bool, l: &Labels) {
    if calls.is_empty() {
        let _ = writeln!(out, "<p id=\"recent\" class=\"note\">{}</p>", escape(if have_records { l.no_calls } else { l.no_records }));
        return;
    }
    let _ = writeln!(
        out,
        "<table id=\"recent\" class=\"recent-table\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        escape(l.col_time),
        escape(l.col_caller),
        escape(l.col_department),
        escape(l.col_outcome),
        escape(l.col_answer),
    );
    for c in calls {
        let _ = writeln!(
            out,
            "<tr class=\"outcome-{}\"><td>{}</td><td><span class=\"num\">{}</span> <span class=\"name\">{}</span></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(c.outcome),
            escape(&c.time),
            escape(&c.number),
            escape(c.name.as_deref().unwrap_or("")),
            escape(c.department.as_deref().unwrap_or("–")),
            escape(&c.operator.as_ref().map_or_else(|| c.outcome_label.to_string(), |op| format!("{} ({op})", c.outcome_label))),
            c.answer_s.map_or_else(|| "–".to_string(), duration),
        );
    }
    out.push_str("</tbody></table>\n");
}

/// The login form; `error` says why the last attempt failed.
pub(super) fn login(lang: Lang, error: Option<&str>) -> String {
    let l = lang.labels();
    let mut out = String::with_capacity(2048);
    head(&mut out, lang, &format!("cc112 · {}", l.login));
    let _ = writeln!(
        out,
        "</head>\n<body class=\"login-page\">\n<main class=\"login\">\n<h1>{}</h1>\n<form method=\"post\" action=\"/login?lang={}\" class=\"login-form\">\n<p>{}</p>",
        escape(l.title),
        lang.code(),
        escape(l.login_hint)
    );
    if let Some(e) = error {
        let _ = writeln!(out, "<p class=\"error\" id=\"login-error\" role=\"alert\">{}</p>", escape(e));
    }
    let _ = writeln!(
        out,
        "<label for=\"token\">{}</label>\n<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required maxlength=\"256\" autofocus>\n<button type=\"submit\" id=\"login-submit\">{}</button>\n</form>\n<p class=\"nav\"><a href=\"/?lang={}\" lang=\"{}\">{}</a></p>\n</main>\n</body>\n</html>",
        escape(l.token),
        escape(l.login),
        lang.other().code(),
        lang.other().code(),
        escape(l.other_language)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_quotes_are_escaped_and_controls_replaced() {
        assert_eq!(escape("<script>alert(1)</script>"), "&lt;script&gt;alert(1)&lt;/script&gt;");
        assert_eq!(escape("a&b \"c\" 'd'"), "a&amp;b &quot;c&quot; &#39;d&#39;");
        assert_eq!(escape("0812\r\nX-Injected: yes"), "0812\u{FFFD}\u{FFFD}X-Injected: yes");
        assert_eq!(escape("Budi Santoso – é"), "Budi Santoso – é");
        assert_eq!(escape(""), "");
    }

    #[test]
    fn every_caller_controlled_string_of_the_board_is_escaped() {
        use super::super::board::{Caller, StateCount};
        let evil = "<img src=x onerror=alert(1)>\"'&";
        let l = Lang::Id.labels();
        let board = Board {
            lang: "id",
            draining: false,
            departments: vec![Department {
                id: "fire".into(),
                name: evil.into(),
                waiting: 1,
                ringing: 1,
                longest_wait_s: Some(20),
                late: true,
                callers: vec![Caller { number: evil.into(), name: Some(evil.into()), waited_s: 20, late: true, ringing_at: Some(evil.into()) }],
                more: 0,
            }],
            operator_counts: vec![StateCount { state: "paused", label: l.states.paused, count: 1 }],
            operators: vec![Operator { id: "op-x".into(), name: evil.into(), state: "paused", state_label: l.states.paused, reason: Some(evil.into()), caller: Some(evil.into()) }],
            shift: None,
            recent: vec![Recent {
                time: "15:04".into(),
                number: evil.into(),
                name: Some(evil.into()),
                department: Some(evil.into()),
                operator: Some(evil.into()),
                outcome: "answered",
                outcome_label: l.outcomes.answered,
                answer_s: Some(3),
            }],
            labels: l,
        };
        let html = page(&board, Lang::Id);
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("onerror=alert(1)>\""), "{html}");
        assert_eq!(html.matches("&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;").count(), 11, "{html}");
        assert!(!html.contains("style="), "no style attribute");
        assert_eq!(html.matches("<script").count(), 1, "the one external script");
        assert!(html.contains("class=\"longest late\""), "a wait past 15 s is marked late");
    }

    #[test]
    fn the_login_form_escapes_its_message_and_posts_to_login() {
        let html = login(Lang::En, Some("<b>no</b>"));
        assert!(html.contains("action=\"/login?lang=en\""));
        assert!(html.contains("&lt;b&gt;no&lt;/b&gt;"));
        assert!(!html.contains("<b>"));
        assert!(!html.contains("style="));
        assert!(!html.contains("<script"), "no script on the login page");
    }
}
