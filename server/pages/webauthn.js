// Runs a WebAuthn ceremony (security key or passkey) for the page's form:
//
//   <form id="webauthn" method="post" action="…" data-mode="create|get"
//         data-options="{PublicKeyCredentialCreationOptionsJSON or …RequestOptionsJSON}">
//     <input type="hidden" name="csrf" value="…">
//     <input type="hidden" name="credential">
//     <button type="submit">…</button>
//   </form>
//   <p id="webauthn-error" hidden></p>
//
// It starts at once, and again whenever the button is pressed, because some
// browsers (Safari) only let a user gesture start one. The result goes into
// "credential" as the W3C JSON form of the PublicKeyCredential and the form
// is submitted. The messages are in English unless #webauthn-error carries
// data-unsupported, data-cancelled, data-registered or data-failed, so the
// server can render them in the user's language.
(function () {
  "use strict";

  var form = document.getElementById("webauthn");
  var errorBox = document.getElementById("webauthn-error");
  if (!form) {
    return;
  }
  var button = form.querySelector("button[type=submit], input[type=submit], button:not([type])");
  var busy = false;

  var messages = {
    unsupported: "This browser cannot use security keys or passkeys. Try another browser or another sign-in method.",
    cancelled: "The security key or passkey request was cancelled or timed out. Press the button to try again.",
    registered: "This security key or passkey is already registered to your account.",
    failed: "The security key or passkey check did not work. Press the button to try again."
  };

  function message(kind) {
    var custom = errorBox && errorBox.dataset[kind];
    return custom || messages[kind];
  }

  function showError(kind) {
    if (errorBox) {
      errorBox.textContent = message(kind);
      errorBox.hidden = false;
    }
  }

  function clearError() {
    if (errorBox) {
      errorBox.hidden = true;
      errorBox.textContent = "";
    }
  }

  // base64url (RFC 4648 §5, unpadded), the encoding of every binary member
  // of the WebAuthn JSON forms.
  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var s = "";
    for (var i = 0; i < bytes.length; i++) {
      s += String.fromCharCode(bytes[i]);
    }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function fromBase64url(text) {
    var s = String(text).replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) {
      s += "=";
    }
    var raw = atob(s);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) {
      bytes[i] = raw.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function decodeDescriptors(list) {
    return (list || []).map(function (d) {
      var copy = Object.assign({}, d);
      copy.id = fromBase64url(d.id);
      return copy;
    });
  }

  // Turns the server's JSON options into what navigator.credentials takes,
  // by the browser's own parser where it has one.
  function publicKeyOptions(mode, json) {
    var PKC = window.PublicKeyCredential;
    if (mode === "create") {
      if (typeof PKC.parseCreationOptionsFromJSON === "function") {
        return PKC.parseCreationOptionsFromJSON(json);
      }
      var create = Object.assign({}, json);
      create.challenge = fromBase64url(json.challenge);
      create.user = Object.assign({}, json.user, { id: fromBase64url(json.user.id) });
      create.excludeCredentials = decodeDescriptors(json.excludeCredentials);
      return create;
    }
    if (typeof PKC.parseRequestOptionsFromJSON === "function") {
      return PKC.parseRequestOptionsFromJSON(json);
    }
    var get = Object.assign({}, json);
    get.challenge = fromBase64url(json.challenge);
    get.allowCredentials = decodeDescriptors(json.allowCredentials);
    return get;
  }

  function optional(fn, self) {
    if (typeof fn !== "function") {
      return undefined;
    }
    try {
      return fn.call(self);
    } catch (e) {
      return undefined;
    }
  }

  // The W3C JSON form of a credential (RegistrationResponseJSON or
  // AuthenticationResponseJSON), by toJSON() where the browser has it.
  function credentialJSON(credential) {
    if (typeof credential.toJSON === "function") {
      try {
        return credential.toJSON();
      } catch (e) {
        // Some extension-provided credentials lack a working toJSON; the
        // manual form below is the same thing.
      }
    }
    var r = credential.response;
    var response = { clientDataJSON: toBase64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toBase64url(r.attestationObject);
      var authData = optional(r.getAuthenticatorData, r);
      if (authData) {
        response.authenticatorData = toBase64url(authData);
      }
      var publicKey = optional(r.getPublicKey, r);
      if (publicKey) {
        response.publicKey = toBase64url(publicKey);
      }
      var algorithm = optional(r.getPublicKeyAlgorithm, r);
      if (typeof algorithm === "number") {
        response.publicKeyAlgorithm = algorithm;
      }
      response.transports = optional(r.getTransports, r) || [];
    } else {
      response.authenticatorData = toBase64url(r.authenticatorData);
      response.signature = toBase64url(r.signature);
      if (r.userHandle) {
        response.userHandle = toBase64url(r.userHandle);
      }
    }
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      response: response,
      clientExtensionResults: optional(credential.getClientExtensionResults, credential) || {}
    };
  }

  function errorKind(mode, err) {
    switch (err && err.name) {
      case "NotAllowedError":
      case "AbortError":
        return "cancelled";
      case "InvalidStateError":
        // create() says this when the authenticator holds one of
        // excludeCredentials.
        return mode === "create" ? "registered" : "failed";
      case "NotSupportedError":
        return "unsupported";
      default:
        return "failed";
    }
  }

  function setBusy(on) {
    busy = on;
    if (button) {
      button.disabled = on;
    }
  }

  function run() {
    if (busy) {
      return;
    }
    var mode = form.dataset.mode;
    if (!window.PublicKeyCredential || !navigator.credentials || !window.isSecureContext) {
      showError("unsupported");
      return;
    }
    var options;
    try {
      if (mode !== "create" && mode !== "get") {
        throw new Error("data-mode must be create or get");
      }
      options = publicKeyOptions(mode, JSON.parse(form.dataset.options));
    } catch (e) {
      showError("failed");
      return;
    }
    clearError();
    setBusy(true);
    var call = mode === "create"
      ? navigator.credentials.create({ publicKey: options })
      : navigator.credentials.get({ publicKey: options });
    call.then(function (credential) {
      if (!credential) {
        throw Object.assign(new Error("no credential"), { name: "NotAllowedError" });
      }
      form.elements.credential.value = JSON.stringify(credentialJSON(credential));
      // The prototype's submit, in case a control is named "submit"; it
      // fires no submit event, so this script does not run again. The
      // button stays disabled: the page is on its way out.
      HTMLFormElement.prototype.submit.call(form);
    }).catch(function (err) {
      setBusy(false);
      showError(errorKind(mode, err));
    });
  }

  form.addEventListener("submit", function (event) {
    // Pressing the button starts a ceremony; only a finished one submits.
    event.preventDefault();
    run();
  });

  // Signing in starts at once: the key is what the page is for. Enrolling
  // waits for the button, so that the user can name the key first, or
  // choose another method.
  if (form.dataset.mode === "get") {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", run);
    } else {
      run();
    }
  }
})();
