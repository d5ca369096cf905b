//! Canonical forms used as identity keys: links without tracking noise, and text without
//! markup, case, punctuation or blog boilerplate.

use url::Url;

/// Query parameters that never change what a link points to (tracking, referral, session).
/// Prefix entries end with `*`.
const TRACKING: &[&str] = &[
    "utm_*",
    "fbclid",
    "gclid",
    "dclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "mc_cid",
    "mc_eid",
    "yclid",
    "_ga",
    "_gl",
    "igshid",
    "ref",
    "ref_src",
    "ref_url",
    "referrer",
    "source",
    "cmpid",
    "icid",
    "ito",
    "ns_mchannel",
    "ns_source",
    "ns_campaign",
    "ns_linkname",
    "ns_fee",
    "share",
    "smid",
    "sr_share",
    "at_medium",
    "at_campaign",
    "rss",
    "feed",
    "outputType",
    "__twitter_impression",
    "s_cid",
    "ocid",
    "guccounter",
    "xtor",
    "hss_channel",
    "mkt_tok",
    "oly_anon_id",
    "oly_enc_id",
    "vero_id",
    "wt_mc",
    "wt.mc_id",
    "spm",
];

fn is_tracking(name: &str, extra: &[String]) -> bool {
    // No allocation: this runs for every query parameter of every link.
    TRACKING
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
        .any(|p| match p.strip_suffix('*') {
            Some(prefix) => {
                name.len() >= prefix.len()
                    && name.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
            }
            None => name.eq_ignore_ascii_case(p),
        })
}

/// The canonical form of a link: scheme dropped (http and https are the same story), host
/// lowercased without `www.`/`m.`/`amp.`, default port, fragment and tracking parameters
/// removed, remaining parameters sorted, trailing slash and `/amp` suffix removed.
/// Returns `None` for links that are not absolute http(s) URLs.
pub fn canonical_url(link: &str, extra_params: &[String]) -> Option<String> {
    let url = Url::parse(link.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?.to_ascii_lowercase();
    let host = ["www.", "m.", "amp.", "mobile."]
        .iter()
        .find_map(|p| host.strip_prefix(p))
        .unwrap_or(&host)
        .to_string();
    let mut params: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !is_tracking(k, extra_params))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    params.sort();
    let mut path = url.path().to_string();
    for suffix in ["/amp", "/amp/", ".amp"] {
        if let Some(p) = path.strip_suffix(suffix) {
            path = p.to_string();
        }
    }
    while path.ends_with('/') {
        path.pop();
    }
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let mut out = format!("{host}{port}{path}");
    if !params.is_empty() {
        out.push('?');
        let q: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push_str(&q.join("&"));
    }
    Some(out)
}

/// Lines that are blog or newsletter furniture, not the story.
const BOILERPLATE: &[&str] = &[
    "discover more from",
    "subscribe to get the latest posts",
    "leave a reply",
    "cancel reply",
    "continue reading",
    "share this:",
    "like this:",
    "related posts",
    "type your email",
    "the post ",
    "appeared first on",
];

/// Normalised text for content identity: boilerplate lines removed, lowercase, only letters
/// and digits, single spaces.
pub fn normalise_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let l = line.trim().to_lowercase();
        if BOILERPLATE
            .iter()
            .any(|b| l.starts_with(b) || l.contains("appeared first on"))
        {
            continue;
        }
        for ch in l.chars() {
            if ch.is_alphanumeric() {
                out.push(ch);
            } else if !out.ends_with(' ') && !out.is_empty() {
                out.push(' ');
            }
        }
        if !out.ends_with(' ') && !out.is_empty() {
            out.push(' ');
        }
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_tracking_and_scheme() {
        let a = canonical_url(
            "https://www.Example.com/world/story-1/?utm_source=x&utm_medium=rss&id=7#comments",
            &[],
        );
        let b = canonical_url("http://example.com/world/story-1?id=7&fbclid=abc", &[]);
        assert_eq!(a, b);
        assert_eq!(a.as_deref(), Some("example.com/world/story-1?id=7"));
    }

    #[test]
    fn keeps_meaningful_params_and_ports() {
        assert_ne!(
            canonical_url("https://e.com/a?id=1", &[]),
            canonical_url("https://e.com/a?id=2", &[])
        );
        assert_eq!(
            canonical_url("http://e.com:8080/a", &[]).as_deref(),
            Some("e.com:8080/a")
        );
        assert_eq!(
            canonical_url("https://e.com/a/amp", &[]),
            canonical_url("https://e.com/a", &[])
        );
        assert_eq!(
            canonical_url("https://e.com/a?session=1", &["session".into()]),
            canonical_url("https://e.com/a", &[])
        );
    }

    #[test]
    fn rejects_non_http() {
        assert_eq!(canonical_url("mailto:x@y", &[]), None);
        assert_eq!(canonical_url("not a url", &[]), None);
    }

    #[test]
    fn text_normalisation_drops_boilerplate() {
        let a = normalise_text("Peace talks COLLAPSE!\n\nDiscover more from KKN\nSubscribe to get the latest posts sent to your email.\nLeave a Reply");
        assert_eq!(a, "peace talks collapse");
    }
}
