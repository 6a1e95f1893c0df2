//! Messages from templates: `NAME.txt` is the text body, `NAME.html` the
//! HTML body, rendered through the app's [`Templates`], so an app rewords
//! any bundle's mail by putting a file of the same name in its
//! `templates/` folder.

use serde::Serialize;
use unchained::templates::Templates;

use crate::error::MailError;
use crate::message::Message;

impl Message {
    /// Sets the bodies from the templates `NAME.txt` and `NAME.html`,
    /// rendered with `context`: either may be missing (a text-only or
    /// HTML-only message), not both. `.html` templates escape their
    /// values; `.txt` ones do not.
    ///
    /// ```
    /// use unchained::minijinja::context;
    /// use unchained::templates::Templates;
    /// use unchained_mail::Message;
    ///
    /// let mut templates = Templates::new();
    /// templates.add("app", "app/welcome.txt", "Hello {{ name }}").unwrap();
    /// templates.add("app", "app/welcome.html", "<p>Hello {{ name }}</p>").unwrap();
    /// let message = Message::new()
    ///     .to("ann@example.com")
    ///     .subject("Welcome")
    ///     .render(&templates, "app/welcome", context! { name => "Ann & co" })
    ///     .unwrap();
    /// assert_eq!(message.text.as_deref(), Some("Hello Ann & co"));
    /// assert_eq!(message.html.as_deref(), Some("<p>Hello Ann &amp; co</p>"));
    /// ```
    pub fn render(
        mut self,
        templates: &Templates,
        name: &str,
        context: impl Serialize,
    ) -> Result<Self, MailError> {
        let text = render_one(templates, &format!("{name}.txt"), &context)?;
        let html = render_one(templates, &format!("{name}.html"), &context)?;
        if text.is_none() && html.is_none() {
            return Err(MailError::NoTemplate {
                name: name.to_owned(),
            });
        }
        self.text = text;
        self.html = html;
        Ok(self)
    }
}

/// Template `name` rendered, or `None` when there is no such template.
fn render_one(
    templates: &Templates,
    name: &str,
    context: &impl Serialize,
) -> Result<Option<String>, MailError> {
    if !templates.contains(name) {
        return Ok(None);
    }
    templates
        .render(name, context)
        .map(Some)
        .map_err(|e| MailError::Template {
            template: name.to_owned(),
            message: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use unchained::minijinja::context;

    use super::*;

    fn templates(pairs: &[(&str, &str)]) -> Templates {
        let mut templates = Templates::new();
        for (name, source) in pairs {
            templates.add("test", name, source).unwrap();
        }
        templates
    }

    #[test]
    fn text_only_and_html_only_both_work() {
        let t = templates(&[("a.txt", "text {{ x }}"), ("b.html", "<i>{{ x }}</i>")]);
        let a = Message::new().render(&t, "a", context! { x => 1 }).unwrap();
        assert_eq!(
            (a.text.as_deref(), a.html.as_deref()),
            (Some("text 1"), None)
        );
        let b = Message::new()
            .render(&t, "b", context! { x => "<b>" })
            .unwrap();
        assert_eq!(
            (b.text.as_deref(), b.html.as_deref()),
            (None, Some("<i>&lt;b&gt;</i>"))
        );
    }

    #[test]
    fn a_missing_or_broken_template_is_an_error_naming_it() {
        let t = templates(&[("broken.txt", "{{ no_such_function() }}")]);
        let err = Message::new()
            .render(&t, "nothing", ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("nothing.txt or nothing.html"), "{err}");
        let err = Message::new()
            .render(&t, "broken", ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("broken.txt"), "{err}");
    }
}
