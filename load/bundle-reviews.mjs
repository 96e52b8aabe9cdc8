#!/usr/bin/env node
// Writes the bundle the k6 scripts read: one JSON array of AdmissionReviews, one review a line, each with the
// name it is tagged with in k6's metrics. k6 cannot list a folder, so this Node command (not a k6 script: it
// runs under `node`) gathers the reviews first.
//
//   node load/bundle-reviews.mjs                        the 88 real requests in ../shared/fixtures/admission-reviews
//                                                       (beside the checkout, as `npm run bench` uses them),
//                                                       into load/reviews.json, the scripts' default
//   node load/bundle-reviews.mjs examples/admission-reviews -o /tmp/examples.json
//   node load/bundle-reviews.mjs /data/recorded/requests-*.jsonl -o /data/replay.json
//
// Each argument is a folder (its *.json files, sorted by name), an AdmissionReview .json file, a bundle this
// command wrote, or a recording of `canopy serve --record-requests` (.jsonl: one {endpoint, review} a line).
// Then: k6 run load/validate.js (with the default output), or k6 run -e REVIEWS=/data/replay.json load/validate.js.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const LOAD_DIR = path.dirname(fileURLToPath(import.meta.url));
const REAL_REVIEWS = path.resolve(LOAD_DIR, '..', '..', 'shared', 'fixtures', 'admission-reviews');
const DEFAULT_OUT = path.join(LOAD_DIR, 'reviews.json');

const isObject = (value) => value !== null && typeof value === 'object' && !Array.isArray(value);

/** Stops with a message naming the input that is wrong. */
function fail(message) {
  process.stderr.write(`bundle-reviews: ${message}\n`);
  process.exit(1);
}

function checked(name, review) {
  if (!isObject(review) || review.kind !== 'AdmissionReview' || !isObject(review.request)) fail(`${name} is not an AdmissionReview with a request`);
  return { name, review };
}

function parse(file, text) {
  try {
    return JSON.parse(text);
  } catch (error) {
    return fail(`${file} is not JSON: ${error.message}`);
  }
}

/** The named reviews of one argument. */
function reviewsOf(input) {
  if (!existsSync(input)) fail(`${input} does not exist`);
  if (statSync(input).isDirectory()) {
    const files = readdirSync(input).filter((name) => name.endsWith('.json')).sort();
    if (files.length === 0) fail(`${input} holds no .json file`);
    return files.flatMap((name) => reviewsOf(path.join(input, name)));
  }
  const text = readFileSync(input, 'utf8');
  const base = path.basename(input);
  if (/\.(jsonl|ndjson)$/.test(input)) {
    return text.split('\n').flatMap((line, index) => {
      if (line.trim() === '') return [];
      const record = parse(`${input}:${index + 1}`, line);
      return [checked(`${base}:${index + 1}`, isObject(record) && isObject(record.review) ? record.review : record)];
    });
  }
  const parsed = parse(input, text);
  if (!Array.isArray(parsed)) return [checked(base, parsed)];
  // A bundle: its items keep their names.
  return parsed.map((item, index) =>
    isObject(item) && isObject(item.review) && item.kind === undefined ? checked(String(item.name ?? `${base}#${index + 1}`), item.review) : checked(`${base}#${index + 1}`, item),
  );
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { out: { type: 'string', short: 'o', default: DEFAULT_OUT } } });
if (positionals.length === 0 && !existsSync(REAL_REVIEWS)) {
  fail(`${REAL_REVIEWS} does not exist: name a folder of AdmissionReview .json files, review files or a recording (.jsonl), e.g. examples/admission-reviews`);
}
const inputs = positionals.length > 0 ? positionals : [REAL_REVIEWS];
const reviews = inputs.flatMap(reviewsOf);
writeFileSync(values.out, `[\n${reviews.map((entry) => JSON.stringify(entry)).join(',\n')}\n]\n`);
process.stderr.write(`bundle-reviews: wrote ${reviews.length} AdmissionReviews from ${inputs.join(', ')} to ${values.out}\n`);
