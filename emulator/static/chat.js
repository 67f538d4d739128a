/* The emulator's chat page: talk to the bot as a LINE user.
 *
 * Every message, tap and follow goes through the emulator's control API (POST api/events), so
 * the bot gets a real signed webhook request. What the bot sends comes from GET api/sent,
 * polled about once a second while the tab is visible, after the last seq seen. A user's polls
 * start only once their history has loaded, answers meant for a user no longer shown are
 * dropped (state.generation), and each sent item shows once (state.seen, by seq).
 * No build step, no library; bot content is only ever put in the page as text.
 */
(() => {
  "use strict";

  const config = JSON.parse(document.getElementById("chat-config").textContent);
  const T = JSON.parse(document.getElementById("chat-strings").textContent);
  const STORAGE_KEY = "samoe.emulator.chat.user";
  const USER_ID = /^U[0-9a-f]{32}$/;
  const POLL_MS = 1000;
  const FAST_POLL_MS = 250;
  const FAST_FOR_MS = 4000;
  /** LINE's limit on a text message, in characters (code points, as the emulator counts). */
  const MAX_TEXT = 5000;
  /** How close to the bottom (px) still counts as reading the newest message. */
  const END_SLACK = 24;

  const $ = (id) => document.getElementById(id);
  const els = {
    select: $("user-select"),
    follow: $("follow"),
    unfollow: $("unfollow"),
    followState: $("follow-state"),
    newUser: $("new-user"),
    newUserName: $("new-user-name"),
    log: $("log"),
    status: $("status"),
    quick: $("quick-replies"),
    picker: $("picker"),
    pickerLabel: $("picker-label"),
    pickerInput: $("picker-input"),
    location: $("location"),
    file: $("file-input"),
    composer: $("composer"),
    text: $("text"),
    send: $("send"),
    attach: $("attach"),
    shareLocation: $("share-location"),
    richMenu: $("rich-menu"),
    richMenuBar: $("rich-menu-bar"),
    richMenuImage: $("rich-menu-image"),
    richMenuAreas: $("rich-menu-areas"),
  };

  const state = {
    users: [],
    user: null,
    after: 0,
    generation: 0,
    loaded: -1, // the generation whose history is on the page: polls wait for it
    seen: new Set(), // seqs of the sent items shown for this user
    polling: false,
    timer: null,
    fastUntil: 0,
    pickerAction: null,
    richMenuId: null,
    richMenuOpen: true,
    polls: 0,
    quickItems: null, // the quick replies shown now (they come back when a send fails)
    atEnd: true, // the log shows its newest message: keep it so when the log shrinks
  };

  // -- small helpers ---------------------------------------------------------------------------

  /** Make an element: h("div", {class: "x", onclick: fn}, "text", child, ...). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else if (key === "style") Object.assign(el.style, value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }

  function setStatus(message) {
    els.status.textContent = message || "";
  }

  function timeLabel(date) {
    return date.toLocaleTimeString("th-TH", { hour: "2-digit", minute: "2-digit" });
  }

  function newUserId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return "U" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function contentUrl(messageId) {
    return config.urls.content.replace("MESSAGE_ID", encodeURIComponent(messageId));
  }

  async function getJson(url) {
    const response = await fetch(url, { cache: "no-store" });
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    return response.json();
  }

  async function postJson(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    let data = {};
    try {
      data = await response.json();
    } catch (_error) {
      data = {};
    }
    return { ok: response.ok, status: response.status, data };
  }

  // -- the log ---------------------------------------------------------------------------------

  function scrollToEnd() {
    els.log.scrollTop = els.log.scrollHeight;
    state.atEnd = true;
  }

  function nearEnd() {
    const log = els.log;
    return log.scrollHeight - log.scrollTop - log.clientHeight <= END_SLACK;
  }

  /** After the log's content or size changed: the newest message stays in view if it was. */
  function keepEnd() {
    if (state.atEnd) scrollToEnd();
  }

  function addRow(row) {
    els.log.append(row);
    scrollToEnd();
    return row;
  }

  function userRow(content, when) {
    return addRow(
      h("div", { class: "row user" },
        h("div", { class: "stack" }, content, h("span", { class: "time" }, timeLabel(when || new Date()))))
    );
  }

  function userText(text, when) {
    return userRow(h("div", { class: "bubble msg-user-text" }, text), when);
  }

  function userImage(src, when) {
    return userRow(h("img", { class: "bubble thumb", src, alt: T.imageSent, onload: keepEnd }), when);
  }

  function userLocation(message, when) {
    return userRow(locationCard(message, "bubble"), when);
  }

  function note(text, extraClass) {
    return addRow(h("div", { class: `row note ${extraClass || ""}` }, h("p", {}, text)));
  }

  /** What went wrong, in a few words: the webhook's status, or that it could not be reached. */
  function failureDetail(status, error, fallback) {
    if (typeof status === "number" && status !== 200) return `webhook ${status}`;
    if (error) return T.webhookUnreachable;
    return fallback || "";
  }

  /** Mark a row as not delivered, with a button that sends it again (`retry`, if any); the
   *  status line says so too unless `quiet` (a past failure shown from the history). */
  function markFailed(row, detail, retry, quiet, title) {
    const text = `${T.sendFailed}${detail ? ` (${detail})` : ""}`;
    if (!quiet) setStatus(text);
    if (!row) return;
    clearFailed(row);
    const mark = h("p", { class: "failed", title: title || null }, text);
    if (retry) {
      mark.append(" ", h("button", {
        type: "button", class: "retry",
        onclick: () => {
          clearFailed(row);
          retry();
        },
      }, T.retry));
    }
    (row.querySelector(".stack") || row).append(mark);
    row.classList.add("not-sent");
    keepEnd();
  }

  function clearFailed(row) {
    for (const mark of row.querySelectorAll(".failed")) mark.remove();
    row.classList.remove("not-sent");
  }

  // -- rendering what the bot sent -------------------------------------------------------------

  function appendSent(item) {
    if (item.seq !== undefined && item.seq !== null) {
      if (state.seen.has(item.seq)) return;
      state.seen.add(item.seq);
    }
    const when = item.at ? new Date(item.at) : new Date();
    const stack = h("div", { class: "stack" });
    for (const message of item.messages || []) stack.append(renderMessage(message));
    stack.append(h("span", { class: "time", title: item.endpoint || "" }, timeLabel(when)));
    addRow(
      h("div", { class: "row bot", "data-seq": item.seq, "data-endpoint": item.endpoint },
        h("div", { class: "avatar", "aria-hidden": "true" }, T.botInitial), stack)
    );
    const messages = item.messages || [];
    const last = messages[messages.length - 1];
    showQuickReplies(last && last.quickReply ? last.quickReply.items : null);
    scrollToEnd(); // the quick replies took room from the log: its last message stays in view
  }

  function renderMessage(message) {
    switch (message.type) {
      case "text":
        return h("div", { class: "bubble msg msg-text" }, lineEmojiText(message.text, message.emojis));
      case "textV2":
        return h("div", { class: "bubble msg msg-text" }, substitute(message.text, message.substitution));
      case "flex":
        return h("div", { class: "msg msg-flex", "aria-label": message.altText || "" },
          renderFlexContainer(message.contents, message.altText));
      case "template":
        return h("div", { class: "msg msg-template" }, renderTemplate(message.template, message.altText));
      case "sticker":
        return placeholder("msg-sticker", `${T.sticker} ${message.packageId}/${message.stickerId}`);
      case "image":
        return placeholder("msg-image", T.image, message.originalContentUrl);
      case "video":
        return placeholder("msg-video", T.video, message.originalContentUrl);
      case "audio":
        return placeholder("msg-audio", T.audio, message.originalContentUrl);
      case "location":
        return locationCard(message, "bubble msg msg-location");
      case "imagemap":
        return placeholder("msg-imagemap", message.altText || "imagemap", message.baseUrl);
      default:
        return placeholder("msg-unknown", message.altText || `${T.unknownMessage} ${message.type}`);
    }
  }

  /** Images, stickers, video and audio are never fetched: a labelled box stands for them. */
  function placeholder(kind, label, url) {
    return h("div", { class: `bubble msg placeholder ${kind}`, title: url || label }, `[${label}]`);
  }

  function locationCard(message, className) {
    return h("div", { class: `${className} location-card` },
      h("span", { class: "location-text" },
        message.title ? h("strong", {}, message.title) : null,
        message.address ? h("span", {}, message.address) : null,
        h("span", { class: "muted" }, `${message.latitude}, ${message.longitude}`)));
  }

  /** LINE emoji in a text message sit on "$" characters at the given indexes. */
  function lineEmojiText(text, emojis) {
    let shown = String(text);
    for (const emoji of emojis || []) {
      const at = emoji.index;
      if (shown[at] === "$") shown = shown.slice(0, at) + "☺" + shown.slice(at + 1);
    }
    return shown;
  }

  function substitute(text, substitution) {
    return String(text).replace(/\{([A-Za-z0-9_]+)\}/g, (whole, key) => {
      const sub = (substitution || {})[key];
      if (!sub) return whole;
      if (sub.type === "mention") return "@" + ((sub.mentionee && sub.mentionee.userId) || "user");
      return "☺";
    });
  }

  // -- actions ---------------------------------------------------------------------------------

  /** A control for an action: a link for uri (opens a new tab), a button for everything else. */
  function actionControl(action, className, content) {
    const label = content || action.label || action.type;
    if (action.type === "uri" && !safeUri(action.uri)) {
      return h("button", { type: "button", class: className, disabled: true, title: action.uri }, label);
    }
    if (action.type === "uri") {
      return h("a", {
        class: className, href: action.uri, target: "_blank", rel: "noopener noreferrer",
        "data-action": "uri",
      }, label);
    }
    return h("button", {
      type: "button", class: className, "data-action": action.type,
      onclick: () => runAction(action),
    }, label);
  }

  /** The schemes LINE allows in a uri action; a javascript: link never reaches the page. */
  function safeUri(uri) {
    return /^(https?:|tel:|line:|mailto:)/i.test(String(uri || ""));
  }

  function runAction(action) {
    switch (action.type) {
      case "message":
        sendText(action.text || action.label || "");
        break;
      case "postback":
        sendPostback(action.data || "", action.displayText || action.text, undefined);
        if (action.inputOption === "openKeyboard") {
          if (action.fillInText) els.text.value = action.fillInText;
          updateSendButton();
          els.text.focus();
        } else if (action.inputOption === "openRichMenu" && state.richMenuId) {
          showRichMenu(true);
        }
        break;
      case "datetimepicker":
        openPicker(action);
        break;
      case "camera":
      case "cameraRoll":
        openFilePicker(action.type === "camera");
        break;
      case "location":
        openLocation();
        break;
      case "uri":
        if (safeUri(action.uri)) window.open(action.uri, "_blank", "noopener");
        break;
      case "clipboard":
        if (navigator.clipboard) navigator.clipboard.writeText(action.clipboardText || "").catch(() => {});
        note(`${T.noteCopied}: ${action.clipboardText || ""}`);
        break;
      case "richmenuswitch":
        // LINE switches the menu to the alias's (the emulator links it) and sends the postback
        sendPostback(action.data || "", undefined, { newRichMenuAliasId: action.richMenuAliasId })
          .then(() => loadRichMenu());
        break;
      default:
        setStatus(`${action.type}?`);
    }
  }

  // -- quick replies ---------------------------------------------------------------------------

  function showQuickReplies(items) {
    els.quick.replaceChildren();
    if (!items || !items.length) {
      els.quick.hidden = true;
      state.quickItems = null;
      return;
    }
    state.quickItems = items;
    for (const item of items) {
      const action = item.action || {};
      const content = [
        item.imageUrl ? h("span", { class: "qr-icon", "aria-hidden": "true" }, "•") : null,
        action.label || action.type,
      ];
      els.quick.append(actionControl(action, "qr", content));
    }
    els.quick.hidden = false;
  }

  /** Hide the quick replies; return the ones that were shown. */
  function hideQuickReplies() {
    const shown = state.quickItems;
    els.quick.replaceChildren();
    els.quick.hidden = true;
    state.quickItems = null;
    return shown;
  }

  // -- the rich menu --------------------------------------------------------------------------

  /** Show the user's rich menu (theirs, else the default), as LINE does, or none. */
  async function loadRichMenu() {
    if (!state.user) return;
    const generation = state.generation;
    let data;
    try {
      data = await getJson(`${config.urls.richMenu}?user=${encodeURIComponent(state.user)}`);
    } catch (_error) {
      return;
    }
    if (generation !== state.generation) return;
    const menu = data.menu;
    if (!menu) {
      state.richMenuId = null;
      els.richMenu.hidden = true;
      els.richMenuBar.hidden = true;
      delete els.richMenu.dataset.richMenuId;
      return;
    }
    if (menu.richMenuId === state.richMenuId) return;
    if (state.richMenuId === null) state.richMenuOpen = menu.selected !== false;
    state.richMenuId = menu.richMenuId;
    renderRichMenu(menu);
  }

  function renderRichMenu(menu) {
    const size = menu.size || { width: 2500, height: 1686 };
    els.richMenuImage.src = menu.imageUrl;
    els.richMenuImage.width = size.width;
    els.richMenuImage.height = size.height;
    els.richMenuImage.alt = (menu.areas || []).map((a) => a.action && a.action.label).filter(Boolean).join(" · ");
    els.richMenuAreas.replaceChildren();
    (menu.areas || []).forEach((area, index) => {
      const b = area.bounds || {};
      const action = area.action || {};
      const label = action.label || action.displayText || action.text || action.type;
      const control = actionControl(action, "rich-menu-area",
        h("span", { class: "visually-hidden" }, label));
      control.setAttribute("aria-label", label);
      control.setAttribute("title", label);
      control.dataset.area = String(index);
      Object.assign(control.style, {
        left: `${(100 * b.x) / size.width}%`,
        top: `${(100 * b.y) / size.height}%`,
        width: `${(100 * b.width) / size.width}%`,
        height: `${(100 * b.height) / size.height}%`,
      });
      els.richMenuAreas.append(control);
    });
    els.richMenu.dataset.richMenuId = menu.richMenuId;
    els.richMenuBar.dataset.text = menu.chatBarText || "";
    els.richMenuBar.hidden = false;
    showRichMenu(state.richMenuOpen);
  }

  function showRichMenu(open) {
    const wasAtEnd = state.atEnd;
    state.richMenuOpen = open;
    els.richMenu.hidden = !open || !state.richMenuId;
    els.richMenuBar.setAttribute("aria-expanded", String(open));
    els.richMenuBar.textContent = `${els.richMenuBar.dataset.text || ""} ${open ? "▾" : "▴"}`;
    if (wasAtEnd) scrollToEnd(); // the menu took room from the log
  }

  function hideRichMenu() {
    state.richMenuId = null;
    els.richMenu.hidden = true;
    els.richMenuBar.hidden = true;
    els.richMenuAreas.replaceChildren();
  }

  // -- Flex ------------------------------------------------------------------------------------

  const SPACING = { none: "0", xs: "2px", sm: "4px", md: "8px", lg: "12px", xl: "16px", xxl: "20px" };
  const FONT_SIZES = {
    xxs: "10px", xs: "12px", sm: "13px", md: "15px", lg: "17px", xl: "20px", xxl: "24px",
    "3xl": "28px", "4xl": "34px", "5xl": "40px",
  };
  const IMAGE_SIZES = {
    xxs: "40px", xs: "60px", sm: "80px", md: "100px", lg: "120px", xl: "140px", xxl: "160px",
    "3xl": "180px", "4xl": "200px", "5xl": "220px", full: "100%",
  };
  const ICON_SIZES = FONT_SIZES;

  /** LINE colours are hex (#RRGGBB or #RRGGBBAA); anything else is ignored. */
  const color = (value) => (/^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$/.test(value || "") ? value : "");
  const spacing = (value) => (value in SPACING ? SPACING[value] : value);
  const fontSize = (value) => (value in FONT_SIZES ? FONT_SIZES[value] : value);

  function renderFlexContainer(container, altText) {
    if (container && container.type === "bubble") return flexBubble(container, altText);
    if (container && container.type === "carousel") {
      return h("div", { class: "flex-carousel", role: "group", "aria-label": altText || "carousel" },
        (container.contents || []).map((bubble) => flexBubble(bubble, altText)));
    }
    return h("div", { class: "bubble flex-alt" }, altText || "");
  }

  function flexBubble(bubble, altText) {
    const el = h("div", { class: `flex-bubble size-${bubble.size || "mega"}`, dir: bubble.direction === "rtl" ? "rtl" : null });
    const styles = bubble.styles || {};
    for (const part of ["header", "hero", "body", "footer"]) {
      const content = bubble[part];
      if (!content) continue;
      const block = h("div", { class: `flex-block flex-${part}` });
      const style = styles[part] || {};
      block.style.backgroundColor = color(style.backgroundColor);
      if (style.separator) block.style.borderTop = `1px solid ${color(style.separatorColor) || "#d5dbe3"}`;
      block.append(flexComponent(content, "vertical", altText));
      el.append(block);
    }
    if (bubble.action) makeTappable(el, bubble.action);
    return el;
  }

  function makeTappable(el, action) {
    el.classList.add("tappable");
    el.setAttribute("role", action.type === "uri" ? "link" : "button");
    el.setAttribute("tabindex", "0");
    if (action.label) el.setAttribute("aria-label", action.label);
    el.dataset.action = action.type;
    const run = (event) => {
      if (event.target.closest("button, a") && event.target.closest("button, a") !== el) return;
      event.stopPropagation();
      runAction(action);
    };
    el.addEventListener("click", run);
    el.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        run(event);
      }
    });
  }

  /** Properties every component may have, applied for its place in the parent box. */
  function placeIn(el, component, parentLayout) {
    const horizontal = parentLayout === "horizontal" || parentLayout === "baseline";
    if (component.flex !== undefined) el.style.flex = `${component.flex} 1 0`;
    else if (horizontal && !["separator", "spacer"].includes(component.type)) el.style.flex = "1 1 0";
    if (component.margin) el.style[horizontal ? "marginInlineStart" : "marginTop"] = spacing(component.margin);
    if (component.gravity && horizontal) {
      el.style.alignSelf = { top: "flex-start", bottom: "flex-end", center: "center" }[component.gravity] || "";
    }
    if (component.align && !horizontal) {
      el.style.alignSelf = { start: "flex-start", end: "flex-end", center: "center" }[component.align] || "";
    }
    for (const side of ["offsetTop", "offsetBottom", "offsetStart", "offsetEnd"]) {
      if (component[side] && component.position !== "absolute") {
        el.style.position = "relative";
        const css = { offsetTop: "top", offsetBottom: "bottom", offsetStart: "insetInlineStart", offsetEnd: "insetInlineEnd" }[side];
        el.style[css] = spacing(component[side]);
      }
    }
    return el;
  }

  function flexComponent(component, parentLayout, altText) {
    let el;
    switch (component && component.type) {
      case "box":
        el = flexBox(component, altText);
        break;
      case "text":
        el = flexText(component);
        break;
      case "image":
        el = flexImage(component);
        break;
      case "icon":
        el = h("span", { class: "flex-icon", "aria-hidden": "true", style: { fontSize: ICON_SIZES[component.size] || component.size || "15px" } }, "★");
        break;
      case "button":
        el = flexButton(component);
        break;
      case "separator":
        el = h("hr", { class: "flex-separator", style: { borderColor: color(component.color) } });
        break;
      case "spacer":
        el = h("div", { class: "flex-spacer", style: { flex: `0 0 ${spacing(component.size || "md")}`, minHeight: spacing(component.size || "md"), minWidth: spacing(component.size || "md") } });
        break;
      case "filler":
        el = h("div", { class: "flex-filler", style: { flex: `${component.flex === undefined ? 1 : component.flex} 1 0` } });
        return el;
      case "video":
        el = component.altContent
          ? flexComponent(component.altContent, "vertical", altText)
          : h("div", { class: "flex-image placeholder", role: "img", "aria-label": T.video }, T.video);
        break;
      default:
        // A component this page does not know: show the message's alternative text instead.
        el = h("div", { class: "flex-unknown", "data-component": component && component.type }, altText || "");
        return el;
    }
    return placeIn(el, component, parentLayout);
  }

  function flexBox(box, altText) {
    const layout = box.layout || "vertical";
    const el = h("div", { class: `flex-box flex-${layout}` });
    const s = el.style;
    if (box.spacing) s.gap = spacing(box.spacing);
    if (box.paddingAll) s.padding = spacing(box.paddingAll);
    if (box.paddingTop) s.paddingTop = spacing(box.paddingTop);
    if (box.paddingBottom) s.paddingBottom = spacing(box.paddingBottom);
    if (box.paddingStart) s.paddingInlineStart = spacing(box.paddingStart);
    if (box.paddingEnd) s.paddingInlineEnd = spacing(box.paddingEnd);
    s.backgroundColor = color(box.backgroundColor);
    const gradient = box.background || {};
    if (gradient.type === "linearGradient" && color(gradient.startColor) && color(gradient.endColor)) {
      const angle = /^-?\d+(\.\d+)?deg$/.test(gradient.angle || "") ? gradient.angle : "0deg";
      s.backgroundImage = `linear-gradient(${angle}, ${gradient.startColor}, ${gradient.endColor})`;
    }
    s.borderColor = color(box.borderColor);
    if (box.borderWidth) {
      s.borderStyle = "solid";
      s.borderWidth = { none: "0", light: "0.5px", normal: "1px", medium: "2px", "semi-bold": "3px", bold: "4px" }[box.borderWidth] || box.borderWidth;
    }
    if (box.cornerRadius) s.borderRadius = spacing(box.cornerRadius);
    for (const key of ["width", "maxWidth", "height", "maxHeight"]) if (box[key]) s[key] = box[key];
    if (box.justifyContent) s.justifyContent = box.justifyContent;
    if (box.alignItems) s.alignItems = box.alignItems;
    for (const child of box.contents || []) el.append(flexComponent(child, layout, altText));
    if (box.action) makeTappable(el, box.action);
    return el;
  }

  function textStyle(el, part) {
    if (part.size) el.style.fontSize = fontSize(part.size);
    if (part.weight === "bold") el.style.fontWeight = "700";
    el.style.color = color(part.color);
    if (part.style === "italic") el.style.fontStyle = "italic";
    if (part.decoration && part.decoration !== "none") el.style.textDecoration = part.decoration;
  }

  function flexText(text) {
    const el = h("div", { class: `flex-text ${text.wrap ? "wrap" : "nowrap"}` });
    if (Array.isArray(text.contents) && text.contents.length) {
      for (const span of text.contents) {
        const spanEl = h("span", {}, span.text || "");
        textStyle(spanEl, span);
        el.append(spanEl);
      }
    } else {
      el.textContent = text.text || "";
    }
    textStyle(el, text);
    if (text.align) el.style.textAlign = text.align;
    if (text.lineSpacing) el.style.lineHeight = `calc(1.4em + ${text.lineSpacing})`;
    if (text.maxLines && text.wrap) {
      el.classList.add("clamp");
      el.style.webkitLineClamp = String(text.maxLines);
    }
    if (text.action) makeTappable(el, text.action);
    return el;
  }

  function flexImage(image) {
    const ratio = String(image.aspectRatio || "1:1").split(":").map(Number);
    const size = IMAGE_SIZES[image.size || "md"] || image.size;
    const el = h("div", {
      class: "flex-image placeholder", role: "img", "aria-label": T.image, title: image.url || "",
      style: { aspectRatio: ratio.length === 2 && ratio[0] > 0 && ratio[1] > 0 ? `${ratio[0]} / ${ratio[1]}` : "1 / 1", width: size, backgroundColor: color(image.backgroundColor) },
    }, h("span", { "aria-hidden": "true" }, T.image));
    if (image.action) makeTappable(el, image.action);
    return el;
  }

  function flexButton(button) {
    const style = button.style || "link";
    const el = actionControl(button.action || {}, `flex-button ${style} ${button.height === "sm" ? "sm" : ""}`);
    if (color(button.color)) {
      if (style === "link") el.style.color = button.color;
      else el.style.backgroundColor = button.color;
    }
    return el;
  }

  // -- templates -------------------------------------------------------------------------------

  function renderTemplate(template, altText) {
    switch (template && template.type) {
      case "buttons":
        return templateCard(template, template.actions);
      case "confirm":
        return h("div", { class: "template-card confirm" },
          h("p", { class: "template-text" }, template.text || ""),
          h("div", { class: "template-actions horizontal" },
            (template.actions || []).map((a) => actionControl(a, "template-button"))));
      case "carousel":
        return h("div", { class: "flex-carousel", role: "group", "aria-label": altText || "carousel" },
          (template.columns || []).map((column) => templateCard(column, column.actions)));
      case "image_carousel":
        return h("div", { class: "flex-carousel", role: "group", "aria-label": altText || "carousel" },
          (template.columns || []).map((column) => h("div", { class: "template-card image-column" },
            h("div", { class: "flex-image placeholder", role: "img", "aria-label": T.image, title: column.imageUrl }, T.image),
            column.action ? actionControl(column.action, "template-button") : null)));
      default:
        return h("div", { class: "bubble" }, altText || "");
    }
  }

  function templateCard(card, actions) {
    const el = h("div", { class: "template-card" },
      card.thumbnailImageUrl
        ? h("div", { class: "flex-image placeholder wide", role: "img", "aria-label": T.image, title: card.thumbnailImageUrl }, T.image)
        : null,
      card.title ? h("p", { class: "template-title" }, card.title) : null,
      h("p", { class: "template-text" }, card.text || ""),
      h("div", { class: "template-actions" }, (actions || []).map((a) => actionControl(a, "template-button"))));
    if (card.defaultAction) makeTappable(el, card.defaultAction);
    return el;
  }

  // -- sending events --------------------------------------------------------------------------

  /** Deliver one event as the current user; `row` is the bubble already shown for it.
   *
   *  `partial` is an event for the control API, or `{redeliver: [webhookEventId]}` to send a
   *  stored event again the way LINE redelivers (same id and reply token: the bot handles it
   *  once). When the webhook does not take it, the row says so with a button to send it
   *  again, and the quick replies that were showing come back. Returns the event, or null. */
  async function sendEvent(partial, row) {
    if (!state.user) {
      setStatus(T.pickUser);
      els.select.focus();
      return null;
    }
    const generation = state.generation;
    const quick = hideQuickReplies();
    setStatus("");
    let result;
    try {
      result = await postJson(config.urls.events, { user: state.user, ...partial });
    } catch (error) {
      result = { ok: false, status: 0, data: { message: String(error) } };
    }
    if (generation !== state.generation) return null; // another user is shown now
    const data = result.data || {};
    const events = data.events || [];
    if (!result.ok || data.status !== 200) {
      const detail = failureDetail(data.status, data.error,
        data.message || (result.status ? `HTTP ${result.status}` : T.emulatorUnreachable));
      // A stored event is redelivered; one the emulator never made is made again.
      const ids = events.map((event) => event.webhookEventId).filter(Boolean);
      const again = ids.length ? { redeliver: ids } : partial;
      markFailed(row, detail, () => sendEvent(again, row), false, data.error || data.message);
      if (quick && els.quick.hidden) showQuickReplies(quick); // nothing new came meanwhile
      return null;
    }
    pollSoon();
    return events[events.length - 1] || null;
  }

  function sendText(text) {
    const body = String(text);
    if (!body.trim()) return;
    const row = state.user ? userText(body) : null;
    return sendEvent({ type: "message", message: { type: "text", text: body } }, row);
  }

  /** A postback; its displayText is the user's bubble, and the emulator keeps it with the
   *  event (LINE never sends it to the bot) so the history shows it in any browser. */
  async function sendPostback(data, displayText, params) {
    let row = null;
    if (state.user) {
      if (displayText) row = userText(displayText);
      else if (params && (params.date || params.time || params.datetime)) {
        row = note(`${T.notePicked}: ${params.date || params.time || params.datetime}`, "picked");
      }
    }
    const postback = { data };
    if (params) postback.params = params;
    const partial = { type: "postback", postback };
    if (displayText) partial.display_text = String(displayText);
    return sendEvent(partial, row);
  }

  // -- the composer and the panels -------------------------------------------------------------

  /** Nothing to send, nothing to press. */
  function updateSendButton() {
    els.send.disabled = !els.text.value.trim();
  }

  /** Text over LINE's 5,000 characters is cut, and the page says so (never silently). */
  function limitText() {
    const chars = Array.from(els.text.value);
    if (chars.length <= MAX_TEXT) return;
    els.text.value = chars.slice(0, MAX_TEXT).join("");
    setStatus(T.textCut);
  }

  function closePanels() {
    els.picker.hidden = true;
    els.location.hidden = true;
    state.pickerAction = null;
  }

  function openPicker(action) {
    closePanels();
    const mode = action.mode || "date";
    const type = { date: "date", time: "time", datetime: "datetime-local" }[mode] || "date";
    els.pickerInput.type = type;
    els.pickerInput.min = action.min || "";
    els.pickerInput.max = action.max || "";
    els.pickerInput.value = action.initial || "";
    els.pickerLabel.textContent = action.label ||
      { date: T.pickDate, time: T.pickTime, datetime: T.pickDatetime }[mode] || T.pickDate;
    state.pickerAction = { ...action, mode };
    els.picker.hidden = false;
    scrollToEnd();
    els.pickerInput.focus();
  }

  function openLocation() {
    closePanels();
    els.location.hidden = false;
    scrollToEnd();
    $("location-address").focus();
  }

  function openFilePicker(camera) {
    closePanels();
    if (camera) els.file.setAttribute("capture", "environment");
    else els.file.removeAttribute("capture");
    els.file.value = "";
    els.file.click();
  }

  function readAsBase64(file) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(file);
    });
  }

  async function sendImage(file) {
    if (!state.user) {
      setStatus(T.pickUser);
      return;
    }
    const row = userImage(URL.createObjectURL(file));
    const content = await readAsBase64(file);
    await sendEvent({
      type: "message",
      message: { type: "image" },
      content_base64: content,
      content_type: file.type || "image/jpeg",
    }, row);
  }

  // -- users -----------------------------------------------------------------------------------

  async function loadUsers() {
    const data = await getJson(config.urls.users);
    state.users = data.items || [];
    renderUserOptions();
  }

  function renderUserOptions() {
    const select = els.select;
    const current = state.user || "";
    select.replaceChildren(h("option", { value: "" }, select.dataset.emptyLabel));
    for (const user of state.users) {
      const label = user.followed ? user.displayName : `${user.displayName} (${T.blockedTag})`;
      select.append(h("option", { value: user.userId }, label));
    }
    select.append(h("option", { value: "__new" }, select.dataset.newLabel));
    select.value = state.users.some((u) => u.userId === current) ? current : "";
    renderFollowState();
  }

  function currentUser() {
    return state.users.find((u) => u.userId === state.user) || null;
  }

  function renderFollowState() {
    const user = currentUser();
    const disabled = !state.user;
    els.follow.disabled = disabled;
    els.unfollow.disabled = disabled;
    if (!user) {
      els.followState.textContent = "";
      return;
    }
    els.followState.textContent = user.followed ? T.followed : T.notFollowed;
    els.followState.classList.toggle("off", !user.followed);
    els.follow.classList.toggle("primary", !user.followed);
  }

  async function registerUser(userId, displayName, followed) {
    const body = { userId, language: "th" };
    if (displayName) body.displayName = displayName;
    if (followed !== undefined) body.followed = followed;
    const result = await postJson(config.urls.users, body);
    if (!result.ok) throw new Error(result.data.message || `HTTP ${result.status}`);
    await loadUsers();
  }

  async function selectUser(userId) {
    // The previous user's poll must not fire for this one before its history is shown.
    clearTimeout(state.timer);
    state.timer = null;
    state.user = userId;
    state.generation += 1;
    state.after = 0;
    state.loaded = -1;
    state.seen = new Set();
    closePanels();
    hideQuickReplies();
    hideRichMenu();
    els.log.replaceChildren();
    delete els.log.dataset.user;
    setStatus("");
    localStorage.setItem(STORAGE_KEY, userId);
    const url = new URL(window.location.href);
    url.searchParams.set("user", userId);
    window.history.replaceState(null, "", url);
    renderUserOptions();
    const generation = state.generation;
    while (!(await loadHistory(generation))) {
      if (generation !== state.generation) return;
      setStatus(T.pollFailed);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      if (generation !== state.generation) return;
    }
    if (generation !== state.generation) return; // another user was chosen meanwhile
    state.loaded = generation;
    if (els.status.textContent === T.pollFailed) setStatus("");
    await loadRichMenu();
    if (generation !== state.generation) return;
    els.log.dataset.user = userId; // loaded (tests wait on it)
    schedule(0);
  }

  /** Show the user's past; false when it could not be read (true when no longer wanted). */
  async function loadHistory(generation) {
    let data;
    try {
      data = await getJson(`${config.urls.history}?user=${encodeURIComponent(state.user)}`);
    } catch (_error) {
      return false;
    }
    if (generation !== state.generation) return true;
    for (const item of data.items || []) {
      if (item.kind === "sent") appendSent(item);
      else showPastEvent(item);
    }
    state.after = Math.max(state.after, data.last || 0);
    return true;
  }

  /** A past event of the user, as the page showed it when it was sent: with the text its
   *  bubble showed, and marked (with a button to send it again) if the webhook never took it. */
  function showPastEvent(item) {
    const event = item.event || {};
    const when = new Date(event.timestamp || Date.now());
    const message = event.message || {};
    const quick = hideQuickReplies();
    let row;
    if (event.type === "message") {
      if (message.type === "text") row = userText(message.text, when);
      else if (message.type === "image") row = userImage(contentUrl(message.id), when);
      else if (message.type === "location") row = userLocation(message, when);
      else if (message.type === "sticker") row = userRow(placeholder("msg-sticker", T.sticker), when);
      else row = userRow(placeholder("msg-unknown", `${T.unknownMessage} ${message.type}`), when);
    } else if (event.type === "postback") {
      const params = (event.postback && event.postback.params) || {};
      if (item.displayText) row = userText(item.displayText, when);
      else if (params.date || params.time || params.datetime) {
        row = note(`${T.notePicked}: ${params.date || params.time || params.datetime}`, "picked");
      } else row = note(`${T.notePostback}: ${(event.postback && event.postback.data) || ""}`, "postback");
    } else if (event.type === "follow") row = note(T.noteFollow);
    else if (event.type === "unfollow") row = note(T.noteUnfollow);
    else row = note(event.type);
    const delivery = item.delivery;
    if (delivery && delivery.status !== 200 && event.webhookEventId) {
      const again = { redeliver: [event.webhookEventId] };
      markFailed(row, failureDetail(delivery.status, delivery.error), () => sendEvent(again, row),
        true, delivery.error);
      if (quick) showQuickReplies(quick); // the bot never answered it: its choices still stand
    }
  }

  async function sendFollow(follow) {
    if (!state.user) return;
    const row = note(follow ? T.noteFollow : T.noteUnfollow);
    const event = await sendEvent({ type: follow ? "follow" : "unfollow" }, row);
    if (event) await loadUsers();
  }

  // -- polling ---------------------------------------------------------------------------------

  async function poll() {
    if (!state.user || state.loaded !== state.generation || state.polling) return;
    if (document.visibilityState !== "visible") return;
    state.polling = true;
    const generation = state.generation;
    try {
      const url = `${config.urls.sent}?user=${encodeURIComponent(state.user)}&after=${state.after}`;
      const data = await getJson(url);
      if (generation !== state.generation) return;
      for (const item of data.items || []) {
        if (item.seq <= state.after) continue;
        state.after = item.seq;
        appendSent(item);
      }
      // A role or language change relinks the user's menu a moment after the answer: look
      // again while answers are coming in, and every few seconds otherwise.
      state.polls += 1;
      if ((data.items || []).length || Date.now() < state.fastUntil || state.polls % 5 === 0) {
        await loadRichMenu();
      }
      if (els.status.dataset.polling) {
        setStatus("");
        delete els.status.dataset.polling;
      }
    } catch (_error) {
      setStatus(T.pollFailed);
      els.status.dataset.polling = "1";
    } finally {
      state.polling = false;
    }
  }

  /** Poll after `delay` ms and keep polling while the tab is visible. */
  function schedule(delay) {
    clearTimeout(state.timer);
    state.timer = null;
    if (!state.user || document.visibilityState !== "visible") return;
    const next = delay !== undefined ? delay : Date.now() < state.fastUntil ? FAST_POLL_MS : POLL_MS;
    state.timer = setTimeout(async () => {
      await poll();
      schedule();
    }, next);
  }

  /** Something was sent: poll quickly for a while, answers usually come within a second. */
  function pollSoon() {
    state.fastUntil = Date.now() + FAST_FOR_MS;
    schedule(FAST_POLL_MS);
  }

  // -- wiring ----------------------------------------------------------------------------------

  function wire() {
    els.select.dataset.emptyLabel = els.select.options[0].textContent;
    els.select.dataset.newLabel = els.select.options[els.select.options.length - 1].textContent;

    els.select.addEventListener("change", () => {
      const value = els.select.value;
      if (value === "__new") {
        els.newUser.hidden = false;
        els.newUserName.focus();
      } else if (value) {
        els.newUser.hidden = true;
        selectUser(value);
      }
    });

    els.newUser.addEventListener("submit", async (event) => {
      event.preventDefault();
      const name = els.newUserName.value.trim() || T.newUserDefault;
      const userId = newUserId();
      try {
        await registerUser(userId, name, false);
      } catch (error) {
        setStatus(`${T.sendFailed} (${error.message})`);
        return;
      }
      els.newUser.hidden = true;
      els.newUserName.value = "";
      await selectUser(userId);
      els.follow.focus();
    });

    for (const form of [els.newUser, els.picker, els.location]) {
      form.querySelector("[data-close]").addEventListener("click", () => {
        form.hidden = true;
        if (form === els.newUser) renderUserOptions();
        els.text.focus();
      });
    }

    els.richMenuBar.addEventListener("click", () => showRichMenu(!state.richMenuOpen));
    els.follow.addEventListener("click", () => sendFollow(true));
    els.unfollow.addEventListener("click", () => sendFollow(false));

    els.composer.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = els.text.value;
      if (!text.trim()) return;
      if (!state.user) {
        setStatus(T.pickUser);
        els.select.focus();
        return;
      }
      els.text.value = "";
      updateSendButton();
      sendText(text);
      els.text.focus();
    });

    els.text.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        els.composer.requestSubmit();
      }
    });
    els.text.addEventListener("input", () => {
      limitText();
      updateSendButton();
    });
    // As in LINE: the keyboard and the rich menu take turns (the parent's menu leaves little
    // of the chat in view).
    els.text.addEventListener("focus", () => {
      if (state.richMenuOpen && state.richMenuId) showRichMenu(false);
    });
    updateSendButton();

    // The newest message stays in view when quick replies, a panel, the rich menu or the
    // status line take room from the log, unless the person scrolled up to read.
    els.log.addEventListener("scroll", () => {
      state.atEnd = nearEnd();
    }, { passive: true });
    if (window.ResizeObserver) new ResizeObserver(keepEnd).observe(els.log);

    els.picker.addEventListener("submit", (event) => {
      event.preventDefault();
      const action = state.pickerAction;
      const value = els.pickerInput.value;
      if (!action || !value) return;
      const params = action.mode === "datetime" ? { datetime: value.slice(0, 16) }
        : action.mode === "time" ? { time: value.slice(0, 5) } : { date: value };
      closePanels();
      sendPostback(action.data || "", undefined, params);
    });

    els.location.addEventListener("submit", (event) => {
      event.preventDefault();
      const address = $("location-address").value.trim();
      const message = {
        type: "location",
        title: T.location,
        address: address || undefined,
        latitude: Number($("location-latitude").value),
        longitude: Number($("location-longitude").value),
      };
      closePanels();
      if (!state.user) {
        setStatus(T.pickUser);
        return;
      }
      const row = userLocation(message);
      sendEvent({ type: "message", message }, row);
    });

    els.attach.addEventListener("click", () => openFilePicker(false));
    els.shareLocation.addEventListener("click", openLocation);
    els.file.addEventListener("change", () => {
      const file = els.file.files && els.file.files[0];
      if (file) sendImage(file);
      els.file.value = "";
    });

    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") schedule(0);
    });
  }

  async function start() {
    wire();
    try {
      await loadUsers();
    } catch (_error) {
      setStatus(T.pollFailed);
    }
    // The user in the address, else the one chosen last time: a known user, or a well-formed
    // id the emulator does not know yet (it is registered).
    const known = (id) => state.users.some((u) => u.userId === id);
    const usable = (id) => Boolean(id) && (known(id) || USER_ID.test(id));
    const fromUrl = new URLSearchParams(window.location.search).get("user");
    const stored = localStorage.getItem(STORAGE_KEY);
    const userId = usable(fromUrl) ? fromUrl : usable(stored) ? stored : null;
    if (!userId) {
      setStatus(T.pickUser);
      renderFollowState();
      return;
    }
    if (!known(userId)) {
      try {
        await registerUser(userId);
      } catch (error) {
        setStatus(`${T.sendFailed} (${error.message})`);
        return;
      }
    }
    await selectUser(userId);
  }

  start();
})();
