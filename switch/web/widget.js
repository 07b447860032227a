// The customer's chat and call widget: one tag on any web page,
//
//   <script type="module" src="https://<switch>/widget.js"></script>
//
// (?lang=en|km|th|fa picks the language, ?open=1 opens the panel at once). The switch
// serves this file at /widget.js; everything else comes from /static/widget/ next to it.

import { startWidget } from "./static/widget/app.js";

const url = new URL(import.meta.url);
startWidget({
  base: new URL("/", url),
  lang: url.searchParams.get("lang"),
  open: url.searchParams.has("open") ? url.searchParams.get("open") !== "0" : undefined,
});
