/* SMS segment counter: the browser twin of campaigns/content/segments.py (same rules, same tables).
 *
 * GSM-7: 160 septets in one segment, 153 a segment once split; extension characters take two.
 * UCS-2 (any character outside GSM 03.38): 70 UTF-16 units, 67 a segment once split. A split never
 * cuts an escape pair or a surrogate pair. The alphabets come from the server (json_script
 * "segment-tables"), so Python and JavaScript read one table; tests/test_segments.py runs this
 * file under node against the same fixtures as the Python counter.
 */
(function (root, factory) {
  "use strict";
  if (typeof module === "object" && module.exports) {
    module.exports = factory();
  } else {
    root.TemplateSegments = factory();
  }
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  function makeCounter(tables) {
    var basic = new Set(Array.from(tables.basic));
    var extension = new Set(Array.from(tables.extension));
    var lookalikes = tables.lookalikes || {};

    function isGsm7(ch) {
      return basic.has(ch) || extension.has(ch);
    }

    function pack(widths, size) {
      var segments = 1;
      var used = 0;
      for (var i = 0; i < widths.length; i++) {
        if (used + widths[i] > size) {
          segments += 1;
          used = 0;
        }
        used += widths[i];
      }
      return [segments, size - used];
    }

    function forcingCharacters(chars) {
      var found = new Map();
      for (var i = 0; i < chars.length; i++) {
        var ch = chars[i];
        if (isGsm7(ch)) continue;
        if (!found.has(ch)) found.set(ch, { positions: [] });
        found.get(ch).positions.push(i);
      }
      var out = [];
      found.forEach(function (value, ch) {
        var known = lookalikes[ch];
        out.push({
          character: ch,
          name: known ? known[0] : "",
          code_point: "U+" + ch.codePointAt(0).toString(16).toUpperCase().padStart(4, "0"),
          count: value.positions.length,
          first_position: value.positions[0],
          replacement: known ? known[1] : null,
        });
      });
      return out;
    }

    /* Characters are code points (Array.from), as Python counts them; positions likewise. */
    function count(text) {
      var chars = Array.from(text || "");
      var gsm = chars.every(isGsm7);
      var encoding = gsm ? "GSM-7" : "UCS-2";
      var widths = chars.map(function (ch) {
        if (gsm) return extension.has(ch) ? 2 : 1;
        return ch.codePointAt(0) > 0xffff ? 2 : 1;
      });
      var units = widths.reduce(function (a, b) {
        return a + b;
      }, 0);
      var single = tables.single[encoding];
      var result = {
        encoding: encoding,
        characters: chars.length,
        units: units,
        segments: 0,
        per_segment: single,
        remaining: single,
        forcing: [],
      };
      if (units === 0) return result;
      if (units <= single) {
        result.segments = 1;
        result.remaining = single - units;
      } else {
        result.per_segment = tables.multi[encoding];
        var packed = pack(widths, result.per_segment);
        result.segments = packed[0];
        result.remaining = packed[1];
      }
      if (!gsm) result.forcing = forcingCharacters(chars);
      return result;
    }

    /* The text as a tracked campaign's recipient gets it: each http(s) address (trailing sentence
     * punctuation left out) replaced by a short link of the real length (the twin of
     * campaigns/links/codes.py urls_in, as campaigns/content/prelaunch.py as_sent counts it). */
    function asSent(text) {
      var shortLink = tables.short_link || "";
      var trailing = tables.link_trailing || "";
      return (text || "").replace(/https?:\/\/[^\s<>"']+/gi, function (found) {
        var end = found.length;
        while (end > 0 && trailing.indexOf(found[end - 1]) >= 0) end -= 1;
        if (end <= "https://".length) return found;
        return shortLink + found.slice(end);
      });
    }

    function toGsm7(text) {
      return Array.from(text || "")
        .map(function (ch) {
          return Object.prototype.hasOwnProperty.call(lookalikes, ch) ? lookalikes[ch][1] : ch;
        })
        .join("");
    }

    return { count: count, isGsm7: isGsm7, toGsm7: toGsm7, asSent: asSent };
  }

  return { makeCounter: makeCounter };
});
