//! Text from operators and remote servers, made safe to print on a terminal.
//!
//! A drain reason, a probed server's answer or an error detail can hold characters a terminal
//! obeys instead of showing: ESC opens sequences that retitle the window, clear the screen or
//! move the cursor over earlier lines; C1 controls do the same on some terminals; a line break
//! fakes a line of output; bidi overrides make text read in another order than it is stored.
//! Everything failoverd prints for a person passes such text through [`escape`] (or, for JSON
//! printed as it came, [`json`]). Answers of the API keep the text as it is: there it is data.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::Value;

/// Whether a terminal would obey `c` rather than show it: C0 controls (line breaks and tabs
/// included), DEL, C1 controls, the line and paragraph separators (U+2028, U+2029), and the
/// bidi marks, embeddings, overrides and isolates (U+061C, U+200E, U+200F, U+202A–U+202E,
/// U+2066–U+2069).
pub fn is_unprintable(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// Whether `c` shows nothing by itself: whitespace; the zero-width and invisible format
/// characters (U+00AD, U+034F, U+200B–U+200D, U+2060–U+2064, U+FEFF, the tags U+E0000–U+E007F);
/// the variation selectors and the other marks that only change the character before them
/// (U+180B–U+180F, U+FE00–U+FE0F, U+E0100–U+E01EF, U+1D173–U+1D17A); and the characters
/// drawn as an empty cell (the Hangul fillers U+115F, U+1160, U+3164, U+FFA0, the Khmer
/// inherent vowels U+17B4, U+17B5, the braille blank U+2800). A text of only these reads as
/// blank.
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00ad}'
                | '\u{034f}'
                | '\u{115f}'
                | '\u{1160}'
                | '\u{17b4}'
                | '\u{17b5}'
                | '\u{180b}'..='\u{180f}'
                | '\u{200b}'..='\u{200d}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{fe00}'..='\u{fe0f}'
                | '\u{feff}'
                | '\u{ffa0}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0000}'..='\u{e007f}'
                | '\u{e0100}'..='\u{e01ef}'
        )
}

/// `text` with every [`is_unprintable`] character written as a visible `\u{..}` escape (ESC
/// becomes `\u{1b}`), so it shows on one line and changes nothing about the terminal.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unprintable) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unprintable(c) {
            // Writing into a String cannot fail.
            let _infallible = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `v` as indented JSON for a terminal: the same data (a JSON reader gets the same strings), with
/// every [`is_unprintable`] character in a string written as a JSON `\uXXXX` escape. (The JSON
/// writer escapes C0 itself; DEL, C1 and bidi controls it writes as they are.)
pub fn json(v: &Value) -> String {
    let text = format!("{v:#}");
    if !text.chars().any(is_unprintable_in_json) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unprintable_in_json(c) {
            // Every such character is in the Basic Multilingual Plane: one `\uXXXX` is enough.
            let _infallible = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// The unprintable characters to escape in JSON text: all but the line breaks of its indentation
/// (inside strings, the JSON writer has escaped every line break already).
fn is_unprintable_in_json(c: char) -> bool {
    is_unprintable(c) && c != '\n'
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn controls_line_breaks_and_bidi_overrides_are_escaped_and_text_is_kept() {
        assert_eq!(
            escape("bad deploy\x1b]0;pwned\x07\x1b[2J\nnext\tx\x7f\u{9b}\u{202e}\u{2069}"),
            "bad deploy\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{a}next\\u{9}x\\u{7f}\\u{9b}\\u{202e}\\u{2069}"
        );
        let plain = "déploiement raté, 回滚 (eu-west-1) \\ \u{200d}👩‍💻";
        assert!(matches!(escape(plain), Cow::Borrowed(t) if t == plain));
        // The line and paragraph separators break a line like \n; the bidi marks reorder.
        for c in [
            '\u{1f}', '\u{80}', '\u{9f}', '\u{202a}', '\u{2066}', '\u{2028}', '\u{2029}',
            '\u{200f}', '\u{61c}',
        ] {
            assert!(is_unprintable(c), "{c:?}");
        }
        for c in ['\u{a0}', '\u{202f}', '\u{2065}', '\u{206a}', 'é'] {
            assert!(!is_unprintable(c), "{c:?}");
        }
    }

    #[test]
    fn json_for_a_terminal_is_the_same_data_with_nothing_a_terminal_obeys() {
        let v = json!({"reason": "a\x1b[2J\u{9b}\u{7f}\u{202e}\n\tb", "n": [1, 2]});
        let text = json(&v);
        assert!(!text.chars().any(is_unprintable_in_json), "{text}");
        assert!(text.contains(r"\u009b\u007f\u202e"), "{text}");
        assert_eq!(serde_json::from_str::<Value>(&text).expect("JSON"), v);
        assert_eq!(json(&json!({"a": 1})), format!("{:#}", json!({"a": 1})));
    }
}
