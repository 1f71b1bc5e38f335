// Goes on to the link's address at once. A link, unlike a form, leaves the
// redirects that follow it out of this page's form-action policy.
location.replace(document.getElementById("continue").href);
