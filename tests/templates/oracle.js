// Oracle for tests/templates/oracle_tests.cpp: Twilio's sms-segments-calculator.
// Usage: node oracle.js PREFIX INPUT OUTPUT, where PREFIX holds
// node_modules/sms-segments-calculator and INPUT has one message a line as hex of its UTF-8
// bytes (decoded here the WHATWG way: invalid sequences become U+FFFD). For each message
// OUTPUT gets one line:
//   ENCODING SEGMENTS UNITS NON_GSM ; the same for the smart-encoded message
// UNITS is the per-segment units comma-separated (septets or UTF-16 units), NON_GSM the code
// points (decimal) of non-GSM characters in order without duplicates, or "-" when none.
'use strict';
const fs = require('fs');
const path = require('path');
const [prefix, input, output] = process.argv.slice(2);
const pkg = path.join(path.resolve(prefix), 'node_modules', 'sms-segments-calculator');
const { SegmentedMessage } = require(pkg);
const gsm = require(path.join(pkg, 'dist', 'libs', 'UnicodeToGSM.js')).default;

function describe(text, smart) {
  const m = new SegmentedMessage(text, 'auto', smart);
  const bits = m.encodingName === 'GSM-7' ? 7 : 16;
  const units = m.segments.map((s) => s.messageSizeInBits() / bits);
  const nonGsm = [];
  for (const g of m.getNonGsmCharacters()) {
    for (const ch of g) {
      const cp = ch.codePointAt(0);
      if (!(ch.length === 1 && gsm[ch.charCodeAt(0)]) && !nonGsm.includes(cp)) nonGsm.push(cp);
    }
  }
  return `${m.encodingName} ${m.segmentsCount} ${units.join(',')} ` +
    (nonGsm.length ? nonGsm.join(',') : '-');
}

const lines = fs.readFileSync(input, 'utf8').split('\n');
if (lines[lines.length - 1] === '') lines.pop();
const out = lines.map((hex) => {
  const text = Buffer.from(hex, 'hex').toString('utf8');
  return describe(text, false) + ' ; ' + describe(text, true);
});
fs.writeFileSync(output, out.join('\n') + '\n');
