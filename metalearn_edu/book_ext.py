"""A Sphinx extension for the course website: `site.write_book` copies this file into the book's
``_ext/`` folder, where Jupyter Book loads it (it imports nothing from the package, whose
environment the site's build does not have).

sphinx-thebe 0.3.1 under Sphinx 7 adds its configuration script to each page twice; the second
``const THEBE_JS_URL`` is a JavaScript error on every page ("Identifier 'THEBE_JS_URL' has already
been declared"). This drops repeated scripts from each page's list.
"""


def _drop_repeated_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        # an inline script is registered once with filename None and once with "": the same script
        key = (str(getattr(script, "filename", script) or ""), tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    if "script_files" in context:
        context["script_files"][:] = unique


def setup(app):
    # early: html-page-context stops at the first handler that returns a template name
    app.connect("html-page-context", _drop_repeated_scripts, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
