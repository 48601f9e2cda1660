// The built-in dataset: generated financial-news sentences with 3 sentiment labels.
// Ships with the app (no download) and is identical in every tab for a given seed.
//
// The label is a function of the sentence's structure, not of single words:
//   polarity = valence(metric) x direction(verb) x (negated ? -1 : 1)
// so "costs rose" is negative and "losses did not widen" positive; contrast
// sentences ("despite X , Y", "X , but Y") take the polarity of their main clause;
// neutral sentences (appointments, schedules, flat figures, "did not say whether
// profit rose") reuse the same metrics and verbs.
//
// Text is lowercase with every token (word, number, punctuation) separated by a
// single space. Every word comes from a phrase list below, registered with
// phrases(); numbers are drawn at random and all read as NUM_TOKEN by the tokenizer.
import { deriveSeed, mulberry32, shuffleInPlace, type Rng } from './rng.ts';

export const LABELS = ['negative', 'neutral', 'positive'] as const;
export const NUM_CLASSES = LABELS.length;
/** The token every number reads as (see tokenizer.ts). */
export const NUM_TOKEN = '<num>';
/** No generated sentence is longer (in tokens), so seqLen 32 never truncates one. */
export const MAX_TOKENS = 32;

export interface Example {
  text: string;
  label: number;
}

type Sign = 1 | -1;

// ---- phrase lists --------------------------------------------------------------

const registry: string[][] = [];

function phrases<T extends string>(...xs: T[]): T[] {
  registry.push(xs);
  return xs;
}

const STEMS = phrases(
  'nordvik', 'altamira', 'brightwell', 'castellan', 'dunmore', 'everline', 'fairhaven', 'granite',
  'halden', 'ironbridge', 'juniper', 'kestrel', 'lakemont', 'meridian', 'northgate', 'oakridge',
  'pinecrest', 'quantis', 'redwater', 'silverline', 'tamarind', 'upland', 'valoris', 'westbrook',
  'zephyr', 'arcadia', 'bluepeak', 'cobalt', 'deltacore', 'emberly', 'falcon', 'greystone',
  'harborline', 'kingsley', 'lumen', 'marlow', 'novara', 'orion', 'pelican', 'ravenhill',
  'stellar', 'trident', 'vantage', 'willow', 'axion', 'borealis', 'corvid', 'sterling',
);
const SUFFIXES = phrases(
  'group', 'holdings', 'bank', 'energy', 'motors', 'systems', 'pharma', 'telecom', 'foods', 'mining',
  'airlines', 'steel', 'retail', 'capital', 'technologies', 'insurance', 'logistics', 'media',
  'chemicals', 'paper', 'industries', 'networks',
);
const SECTOR_NOUNS = phrases(
  'bank', 'lender', 'retailer', 'carmaker', 'miner', 'airline', 'insurer', 'chipmaker', 'utility',
  'drugmaker', 'brewer', 'software maker', 'steelmaker', 'shipping company', 'paper maker', 'group',
  'company', 'firm', 'manufacturer', 'telecom operator', 'forestry company', 'engineering group',
  'food company', 'media group', 'supermarket chain',
);
const NATIONS = phrases(
  'finnish', 'swedish', 'german', 'french', 'dutch', 'british', 'norwegian', 'danish', 'spanish',
  'italian', 'polish', 'us', 'canadian', 'japanese', 'swiss', 'estonian',
);
const FIRST = phrases(
  'anna', 'mikko', 'laura', 'james', 'sofia', 'peter', 'maria', 'david', 'elena', 'thomas', 'sarah',
  'lars', 'julia', 'martin', 'emma', 'jan', 'kari', 'helen', 'paul', 'nina', 'oskar', 'claire',
  'henrik', 'ingrid', 'marco',
);
const LAST = phrases(
  'virtanen', 'lindqvist', 'berg', 'keller', 'novak', 'morgan', 'fischer', 'dubois', 'rossi',
  'hansen', 'larsen', 'korhonen', 'schmidt', 'walsh', 'nieminen', 'jensen', 'bauer', 'moreau',
  'carter', 'holm',
);
const ROLES = phrases(
  'chief executive', 'chief financial officer', 'chairman', 'head of sales', 'chief operating officer',
  'head of investor relations', 'board member', 'general counsel', 'managing director',
  'head of research', 'chief technology officer', 'head of its asian business',
);
const CITIES = phrases(
  'helsinki', 'stockholm', 'oslo', 'copenhagen', 'london', 'frankfurt', 'paris', 'madrid', 'milan',
  'warsaw', 'amsterdam', 'zurich', 'vienna', 'new york', 'chicago', 'toronto', 'tokyo', 'singapore',
  'shanghai', 'tallinn', 'riga', 'munich', 'dublin', 'brussels', 'boston',
);
const REGIONS = phrases(
  'europe', 'asia', 'north america', 'the nordic countries', 'the baltic states', 'germany', 'china',
  'india', 'latin america', 'the middle east', 'scandinavia', 'eastern europe', 'poland', 'brazil',
);
const EXCHANGES = phrases(
  'nasdaq', 'helsinki stock exchange', 'london stock exchange', 'new york stock exchange',
  'frankfurt stock exchange', 'stockholm stock exchange', 'oslo stock exchange', 'main market',
);
const PRODUCTS = phrases(
  'electric cars', 'trucks', 'smartphones', 'laptops', 'tablets', 'software licences', 'cloud services',
  'frozen foods', 'beer', 'soft drinks', 'packaging', 'steel products', 'medical devices',
  'wind turbines', 'jet engines', 'generic drugs', 'mortgages', 'insurance policies', 'solar panels',
  'fertilizers', 'furniture', 'tires', 'elevators', 'cosmetics', 'clothing', 'sports shoes',
  'network equipment', 'cranes', 'consumer loans', 'video games', 'heat pumps', 'batteries',
);
const CONTRACTS = phrases(
  'contract', 'order', 'deal', 'supply agreement', 'service contract', 'framework agreement',
  'licensing deal', 'maintenance contract',
);
const GUIDANCE = phrases(
  'full-year guidance', 'outlook', 'profit forecast', 'sales forecast', 'earnings guidance',
  'full-year outlook', 'revenue target', 'financial targets',
);
const MONTHS = phrases(
  'january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october',
  'november', 'december',
);
const WEEKDAYS = phrases('monday', 'tuesday', 'wednesday', 'thursday', 'friday');
const ORDINALS = phrases('first', 'second', 'third', 'fourth');
const REPORTS = phrases(
  'interim', 'first-quarter', 'second-quarter', 'third-quarter', 'fourth-quarter', 'half-year',
  'full-year', 'annual',
);
const CURRENCIES = phrases('eur', 'usd', '$', 'sek', 'nok', 'gbp', 'dkk', 'chf');
const UNITS = phrases('million', 'billion');
phrases(NUM_TOKEN, '.', ',');

type Kind = 'amount' | 'loss' | 'margin';

interface Metric {
  text: string;
  val: Sign; // +1: higher is good news (sales), -1: higher is bad news (costs)
  kind: Kind;
  plural: boolean;
}

function metrics(val: Sign, kind: Kind, plural: boolean, ...texts: string[]): Metric[] {
  registry.push(texts);
  return texts.map((text) => ({ text, val, kind, plural }));
}

const GOOD = [
  ...metrics(1, 'amount', false,
    'revenue', 'net profit', 'operating profit', 'pretax profit', 'profit', 'ebitda', 'order intake',
    'cash flow', 'operating cash flow', 'dividend', 'market share', 'traffic', 'production',
    'demand', 'net interest income', 'order backlog', 'share price', '{product} revenue',
    'demand for {product}'),
  ...metrics(1, 'amount', true,
    'sales', 'net sales', 'earnings', 'earnings per share', 'orders', 'new orders', 'bookings',
    'deliveries', 'passenger numbers', 'subscriber numbers', 'like-for-like sales', 'comparable sales',
    'premiums', 'volumes', 'exports', '{product} sales', 'sales of {product}', 'orders for {product}'),
  ...metrics(1, 'margin', false, 'operating margin', 'gross margin', 'profit margin', 'ebitda margin'),
];
const BAD = [
  ...metrics(-1, 'amount', true,
    'costs', 'operating costs', 'expenses', 'impairment charges', 'write-downs', 'loan losses',
    'bad loans', 'restructuring costs', 'raw material costs', 'energy costs', 'staff costs',
    'non-performing loans', 'loan defaults', 'customer complaints', 'delivery delays', 'product returns'),
  ...metrics(-1, 'amount', false, 'debt', 'net debt', 'customer churn', 'cost base', 'unemployment'),
  ...metrics(-1, 'loss', false, 'net loss', 'operating loss', 'pretax loss', 'quarterly loss'),
  ...metrics(-1, 'loss', true, 'losses', 'operating losses'),
];

interface Verb {
  base: string;
  past: string;
  dir: Sign;
  kinds: Kind[];
}

const ALL_KINDS: Kind[] = ['amount', 'loss', 'margin'];

function verbs(dir: Sign, kinds: Kind[], pairs: [string, string][]): Verb[] {
  registry.push(pairs.flat());
  return pairs.map(([base, past]) => ({ base, past, dir, kinds }));
}

const VERBS = [
  ...verbs(1, ALL_KINDS, [
    ['rise', 'rose'], ['increase', 'increased'], ['jump', 'jumped'], ['climb', 'climbed'],
    ['grow', 'grew'], ['surge', 'surged'], ['soar', 'soared'], ['double', 'doubled'],
    ['rebound', 'rebounded'], ['edge up', 'edged up'], ['pick up', 'picked up'], ['go up', 'went up'],
  ]),
  ...verbs(-1, ALL_KINDS, [
    ['fall', 'fell'], ['decline', 'declined'], ['drop', 'dropped'], ['slip', 'slipped'],
    ['decrease', 'decreased'], ['slump', 'slumped'], ['tumble', 'tumbled'], ['plunge', 'plunged'],
    ['ease', 'eased'], ['shrink', 'shrank'], ['edge down', 'edged down'], ['go down', 'went down'],
  ]),
  ...verbs(1, ['loss', 'margin'], [['widen', 'widened']]),
  ...verbs(1, ['loss'], [['deepen', 'deepened']]),
  ...verbs(-1, ['loss', 'margin'], [['narrow', 'narrowed']]),
];

const FLAT_PAST = phrases(
  '{was} flat', '{was} unchanged', 'held steady', 'remained stable', '{was} little changed',
  'stayed flat', 'remained unchanged', '{was} stable', 'did not change', 'held at the same level',
);
const FLAT_BASE = phrases(
  'remain flat', 'hold steady', 'remain stable', 'stay unchanged', 'be flat', 'remain unchanged',
  'stay at about the same level',
);

// ---- slots: {name} in a template, filled left to right --------------------------------

interface Ctx {
  rng: Rng;
  metric?: Metric;
  verb?: Verb;
}

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)];
const chance = (rng: Rng, p: number) => rng() < p;
const int = (rng: Rng, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));

function number(rng: Rng): string {
  return chance(rng, 0.5) ? String(int(rng, 2, 95)) : (rng() * 60 + 0.1).toFixed(1);
}

function needMetric(ctx: Ctx): Metric {
  if (!ctx.metric) throw new Error('template uses an agreement or verb slot before {m}');
  return ctx.metric;
}

function needVerb(ctx: Ctx): Verb {
  if (!ctx.verb) throw new Error('template uses a verb slot in a clause without a verb');
  return ctx.verb;
}

const MAG = phrases('', '', 'by {pct}', '{pct}', 'to {money}', 'by {money}', '{pct} to {money}');
const MARGIN_MAG = phrases('', 'to {pct}', 'by {count} basis points', 'by {num} percentage points');
const WHEN = phrases(
  '', '', '', 'in the {ord} quarter', 'in the {ord} quarter of {year}', 'in {year}', 'year-on-year',
  'in {month}', 'last year', 'in the first half', 'in the second half of {year}', 'compared with a year earlier',
  'from a year ago', 'during the period', 'in the {ord} quarter from a year earlier', 'last month',
);
const WHEN_FUTURE = phrases(
  '', '', 'next year', 'in {year}', 'this year', 'in the {ord} quarter', 'in the coming months',
  'in the second half', 'over the next two years', 'in the current quarter',
);
const WHEN_FRONT = phrases('in the {ord} quarter', 'in {year}', 'last year', 'in the first half', 'in {month}');
const SUBJECT = phrases('{co}', '{co}', '{co}', 'the {sector}', 'the {sector}', '{co} , the {nation} {sector} ,');
const COMPANY = phrases('{stem}', '{stem} {suffix}', '{stem} {suffix}');
const PCT = phrases('{num} %', '{num} %', '{num} percent');
const MONEY = phrases('{cur} {num} {unit}');
const PERSON = phrases('{first} {last}');
const SOURCE = phrases('analysts', 'the company', 'the chief executive', '{person}', 'a spokesman', 'the bank');

const SLOTS: Record<string, (ctx: Ctx) => string> = {
  stem: ({ rng }) => pick(rng, STEMS),
  suffix: ({ rng }) => pick(rng, SUFFIXES),
  co: ({ rng }) => pick(rng, COMPANY),
  subj: ({ rng }) => pick(rng, SUBJECT),
  sector: ({ rng }) => pick(rng, SECTOR_NOUNS),
  nation: ({ rng }) => pick(rng, NATIONS),
  first: ({ rng }) => pick(rng, FIRST),
  last: ({ rng }) => pick(rng, LAST),
  person: ({ rng }) => pick(rng, PERSON),
  role: ({ rng }) => pick(rng, ROLES),
  city: ({ rng }) => pick(rng, CITIES),
  region: ({ rng }) => pick(rng, REGIONS),
  exchange: ({ rng }) => pick(rng, EXCHANGES),
  product: ({ rng }) => pick(rng, PRODUCTS),
  contract: ({ rng }) => pick(rng, CONTRACTS),
  guidance: ({ rng }) => pick(rng, GUIDANCE),
  month: ({ rng }) => pick(rng, MONTHS),
  weekday: ({ rng }) => pick(rng, WEEKDAYS),
  ord: ({ rng }) => pick(rng, ORDINALS),
  report: ({ rng }) => pick(rng, REPORTS),
  cur: ({ rng }) => pick(rng, CURRENCIES),
  unit: ({ rng }) => pick(rng, UNITS),
  source: ({ rng }) => pick(rng, SOURCE),
  num: ({ rng }) => number(rng),
  count: ({ rng }) => String(int(rng, 2, chance(rng, 0.5) ? 90 : 4000)),
  year: ({ rng }) => String(int(rng, 2015, 2026)),
  pct: ({ rng }) => pick(rng, PCT),
  money: ({ rng }) => pick(rng, MONEY),
  date: ({ rng }) => `{month} ${int(rng, 1, 28)}`,
  when: ({ rng }) => pick(rng, WHEN),
  whenF: ({ rng }) => pick(rng, WHEN_FUTURE),
  when2: ({ rng }) => pick(rng, WHEN_FRONT),
  // Metric-bound slots: the clause builder chose ctx.metric and ctx.verb.
  m: (ctx) => needMetric(ctx).text,
  is: (ctx) => (needMetric(ctx).plural ? 'are' : 'is'),
  was: (ctx) => (needMetric(ctx).plural ? 'were' : 'was'),
  vpast: (ctx) => needVerb(ctx).past,
  vbase: (ctx) => needVerb(ctx).base,
  mag: (ctx) => pick(ctx.rng, needMetric(ctx).kind === 'margin' ? MARGIN_MAG : MAG),
  flat: ({ rng }) => pick(rng, FLAT_PAST),
  flatbase: ({ rng }) => pick(rng, FLAT_BASE),
  // Free metric phrases (not bound to the clause's verb), by valence.
  good: ({ rng }) => pick(rng, GOOD).text,
  bad: ({ rng }) => pick(rng, BAD).text,
  neutral: ({ rng }) => neutralClause(rng),
};

function expand(template: string, ctx: Ctx): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const slot = SLOTS[name];
    if (!slot) throw new Error(`synthetic: unknown slot {${name}}`);
    return expand(slot(ctx), ctx);
  });
}

// ---- clauses with a polarity ------------------------------------------------------------

// Clauses about a metric moving: polarity = val x dir, flipped when `negated`.
interface MoveFamily {
  negated: boolean;
  templates: string[];
}

const CHANGE: MoveFamily = {
  negated: false,
  templates: phrases(
    '{m} {vpast} {mag} {when}',
    '{subj} said {m} {vpast} {mag} {when}',
    '{subj} said its {m} {vpast} {mag} {when}',
    "{co} 's {m} {vpast} {mag} {when}",
    '{m} at {co} {vpast} {mag} {when}',
    '{when2} , {m} at {co} {vpast} {mag}',
    '{subj} reported that {m} {vpast} {mag} {when}',
  ),
};
const NOT_CHANGE: MoveFamily = {
  negated: true,
  templates: phrases(
    '{m} did not {vbase} {when}',
    '{subj} said {m} did not {vbase} {when}',
    '{m} at {co} failed to {vbase} {when}',
    "{co} 's {m} did not {vbase} as expected",
    '{subj} said {m} would not {vbase} {whenF}',
  ),
};
const HEDGED: MoveFamily = {
  negated: false,
  templates: phrases(
    '{m} {is} expected to {vbase} {mag} {whenF}',
    '{m} may {vbase} {whenF}',
    '{m} could {vbase} {mag} {whenF} , analysts said',
    'analysts expect {m} at {co} to {vbase} {whenF}',
    '{subj} expects {m} to {vbase} {mag} {whenF}',
    '{subj} said {m} will {vbase} {whenF}',
    '{subj} said {m} {is} likely to {vbase} {whenF}',
    '{m} should {vbase} {whenF} , {source} said',
  ),
};
const NOT_HEDGED: MoveFamily = {
  negated: true,
  templates: phrases(
    '{subj} does not expect {m} to {vbase} {whenF}',
    '{subj} no longer expects {m} to {vbase} {whenF}',
    'analysts do not expect {m} to {vbase} {whenF}',
    '{m} {is} unlikely to {vbase} {whenF}',
    '{m} will not {vbase} {whenF} , {subj} said',
    '{subj} said there is no sign that {m} will {vbase}',
  ),
};

function pickMetric(rng: Rng): Metric {
  // Good-news metrics are a bit more common, as in real news.
  return chance(rng, 0.6) ? pick(rng, GOOD) : pick(rng, BAD);
}

function pickVerb(rng: Rng, dir: Sign, kind: Kind): Verb {
  return pick(rng, VERBS.filter((v) => v.dir === dir && v.kinds.includes(kind)));
}

function moveClause(rng: Rng, fam: MoveFamily, polarity: Sign): string {
  const metric = pickMetric(rng);
  const dir = (polarity * metric.val * (fam.negated ? -1 : 1)) as Sign;
  return expand(pick(rng, fam.templates), { rng, metric, verb: pickVerb(rng, dir, metric.kind) });
}

// Clauses whose polarity comes from their wording (beat / missed, won / lost).
const BEAT = phrases('beat', 'exceeded', 'topped', 'came in above', 'did not miss', 'comfortably beat');
const MISS = phrases('missed', 'fell short of', 'came in below', 'failed to beat', 'failed to meet', 'did not meet', 'narrowly missed');
const EXPECTATIONS = phrases(
  'expectations', 'market expectations', 'analyst forecasts', 'consensus estimates', 'its own forecast',
  'the market consensus',
);
const EXPECT_SUBJECT = phrases('{subj}', "{co} 's {good}", "{co} 's {report} results", '{report} results at {co}');
const EXPECTATION = phrases('{es} {ev} {expectations} {when}');

const EVENTS_POS = phrases(
  '{subj} raised its {guidance}',
  '{subj} won a {contract} worth {money}',
  '{subj} won a {contract} from {co}',
  '{subj} returned to profit {when}',
  '{subj} announced a share buyback of {money}',
  '{subj} was upgraded to buy by {stem} securities',
  '{subj} did not cut its dividend',
  '{subj} will not cut jobs {whenF}',
  '{subj} avoided a loss {when}',
  '{subj} reported record {good} {when}',
  '{subj} reported {adjpos} {report} results',
  '{subj} said demand for {product} remains strong',
);
const EVENTS_NEG = phrases(
  '{subj} cut its {guidance}',
  '{subj} lost a {contract} with {co}',
  '{subj} swung to a loss {when}',
  '{subj} issued a profit warning',
  '{subj} was downgraded to sell by {stem} securities',
  '{subj} will cut {count} jobs {whenF}',
  '{subj} suspended its dividend',
  '{subj} recalled {count} {product}',
  '{subj} failed to win the {contract}',
  '{subj} did not raise its {guidance}',
  '{subj} did not return to profit {when}',
  '{subj} reported {adjneg} {report} results',
  '{subj} said demand for {product} remains weak',
);
const ADJ_POS = phrases('strong', 'solid', 'better-than-expected', 'record', 'robust');
const ADJ_NEG = phrases('weak', 'disappointing', 'worse-than-expected', 'poor', 'soft');

// "{subj} no longer expects a loss": polarity = stance x object.
const EXPECTS_YES = phrases('now expects', 'still expects', 'expects', 'forecasts');
const EXPECTS_NO = phrases('no longer expects', 'does not expect', 'has stopped forecasting', 'rules out');
const OUTCOME_POS = phrases(
  'growth in {good} {whenF}', 'an increase in {good}', 'a profit {whenF}', 'higher {good} {whenF}',
  'a recovery in demand', 'lower {bad} {whenF}',
);
const OUTCOME_NEG = phrases(
  'a loss {whenF}', 'losses {whenF}', 'a decline in {good}', 'lower {good} {whenF}', 'further job cuts',
  'weaker demand {whenF}', 'higher {bad} {whenF}',
);
const STANCE = phrases('{subj} {stance} {outcome}');

function wordingClause(rng: Rng, polarity: Sign): string {
  const r = rng();
  if (r < 0.35) {
    const ev = polarity > 0 ? BEAT : MISS;
    return expand(pick(rng, EXPECTATION).replace('{es}', pick(rng, EXPECT_SUBJECT))
      .replace('{ev}', pick(rng, ev)).replace('{expectations}', pick(rng, EXPECTATIONS)), { rng });
  }
  if (r < 0.7) {
    const t = pick(rng, polarity > 0 ? EVENTS_POS : EVENTS_NEG);
    return expand(t.replace('{adjpos}', pick(rng, ADJ_POS)).replace('{adjneg}', pick(rng, ADJ_NEG)), { rng });
  }
  const stance: Sign = chance(rng, 0.5) ? 1 : -1;
  const outcome = pick(rng, stance * polarity > 0 ? OUTCOME_POS : OUTCOME_NEG);
  const verb = pick(rng, stance > 0 ? EXPECTS_YES : EXPECTS_NO);
  return expand(STANCE[0].replace('{stance}', verb).replace('{outcome}', outcome), { rng });
}

// A short phrase with a polarity, for "despite {np} , ..." and "..., driven by {np}".
const NP_POS = phrases(
  'strong demand', 'higher {good}', 'lower {bad}', 'record {good}', 'cost cuts', 'solid growth',
  'a strong order book', 'robust {good}', 'falling {bad}', 'rising {good}', 'new contracts',
);
const NP_NEG = phrases(
  'weak demand', 'lower {good}', 'higher {bad}', 'falling {good}', 'rising {bad}', 'a weak market',
  'one-off charges', 'a strike', 'currency headwinds', 'supply chain problems', 'weak {good}',
);

const np = (rng: Rng, polarity: Sign) => expand(pick(rng, polarity > 0 ? NP_POS : NP_NEG), { rng });

function polarClause(rng: Rng, polarity: Sign): string {
  const r = rng();
  if (r < 0.32) return moveClause(rng, CHANGE, polarity);
  if (r < 0.48) return moveClause(rng, NOT_CHANGE, polarity);
  if (r < 0.64) return moveClause(rng, HEDGED, polarity);
  if (r < 0.76) return moveClause(rng, NOT_HEDGED, polarity);
  return wordingClause(rng, polarity);
}

// Two clauses; the sentence takes the polarity of the main one.
const CONTRAST = phrases(
  'despite {np-} , {main}', 'although {other} , {main}', '{other} , but {main}',
  '{main} , even though {other}', '{main} , driven by {np+}', '{main} and {same}',
  '{main} , while {same}',
);

function compound(rng: Rng, polarity: Sign): string {
  const t = pick(rng, CONTRAST);
  const opposite = (-polarity) as Sign;
  return t
    .replace('{np-}', () => np(rng, opposite))
    .replace('{np+}', () => np(rng, polarity))
    .replace('{other}', () => polarClause(rng, opposite))
    .replace('{same}', () => polarClause(rng, polarity))
    .replace('{main}', () => polarClause(rng, polarity));
}

// ---- neutral clauses ----------------------------------------------------------------------

const FLAT = phrases(
  '{m} {flat} {when}', '{m} {flat} at {money}', '{subj} said {m} {flat} {when}',
  '{m} {is} expected to {flatbase} {whenF}', 'analysts expect {m} to {flatbase} {whenF}',
  "{co} 's {m} {flat} {when}", '{m} {was} in line with expectations {when}',
);
const WHETHER = phrases(
  '{subj} did not say whether {m} {vpast} {when}', '{subj} declined to comment on whether {m} {vpast}',
  'it is not clear whether {m} will {vbase} {whenF}', '{subj} will announce on {weekday} whether {m} {vpast}',
  'analysts are divided on whether {m} will {vbase} {whenF}', '{subj} gave no forecast for {m}',
  '{subj} did not disclose {m} {when}', 'no figures for {m} were given',
);
const NEUTRAL = phrases(
  '{subj} kept its {guidance} unchanged', '{subj} reiterated its {guidance}', '{subj} confirmed its {guidance}',
  '{subj} left its {guidance} unchanged', '{subj} did not change its {guidance}', '{subj} maintained its {guidance}',
  '{subj} appointed {person} as {role}', '{subj} named {person} {role}',
  '{person} will replace {person} as {role} of {co}', '{person} has been appointed {role} of {co} , effective {date}',
  '{person} , {role} of {co} , will retire in {month}', "{co} 's board elected {person} as chairman",
  '{person} will step down as {role} at the end of {month}',
  '{co} will publish its {report} results on {date}', '{co} will hold its annual general meeting in {city} on {date}',
  'the board of {co} will meet on {weekday}', '{co} will report {report} figures on {weekday}',
  '{co} will hold a conference call for analysts on {date}', '{co} will present its strategy in {city} on {date}',
  '{co} is scheduled to report {ord} quarter results on {date}', 'the annual report of {co} will be published in {month}',
  'shares of {co} will be listed on the {exchange} on {date}', '{co} is headquartered in {city}',
  '{co} employs about {count} people in {count} countries', '{co} operates {count} stores in {region}',
  '{co} has moved its head office to {city}', '{co} will change its name to {co}', '{co} opened a new office in {city}',
  "{co} 's shares are traded on the {exchange}", '{co} sells {product} in {region}', '{co} was founded in {year}',
  '{co} has about {count} customers in {region}', '{co} makes {product} at {count} plants in {region}',
);

const NEUTRAL_PAIR = phrases('{neutral} , and {neutral}');

function neutralClause(rng: Rng): string {
  const r = rng();
  const metric = pickMetric(rng);
  const verb = pickVerb(rng, chance(rng, 0.5) ? 1 : -1, metric.kind);
  if (r < 0.3) return expand(pick(rng, FLAT), { rng, metric });
  if (r < 0.45) return expand(pick(rng, WHETHER), { rng, metric, verb });
  return expand(pick(rng, NEUTRAL), { rng });
}

// ---- sentences ----------------------------------------------------------------------------

const PREFIX = phrases('according to {co} , ', 'on {weekday} , ', 'separately , ', 'meanwhile , ', 'in a statement , ');
const SUFFIX = phrases(
  ' , analysts said', ' , the company said', ' , {person} told reporters', ' , according to a stock exchange filing',
  ' , {source} said in a statement', ' , sources said',
);

function decorate(rng: Rng, clause: string): string {
  const r = rng();
  if (r < 0.12) return expand(pick(rng, PREFIX), { rng }) + clause;
  // One source per sentence: no suffix on a clause that already says who said it.
  if (r < 0.24 && !clause.includes(' said')) return clause + expand(pick(rng, SUFFIX), { rng });
  return clause;
}

function tidy(s: string): string {
  return (s.replace(/\s+/g, ' ').trim() + ' .').replace(/ , \./, ' .');
}

function sentence(rng: Rng, label: number): string {
  if (label === 1) {
    const s = chance(rng, 0.12) ? expand(NEUTRAL_PAIR[0], { rng }) : neutralClause(rng);
    return tidy(decorate(rng, s));
  }
  const polarity: Sign = label === 2 ? 1 : -1;
  return tidy(chance(rng, 0.3) ? compound(rng, polarity) : decorate(rng, polarClause(rng, polarity)));
}

/** One sentence of the given label, at most MAX_TOKENS tokens. */
export function generateSentence(rng: Rng, label: number): string {
  if (label !== 0 && label !== 1 && label !== 2) throw new Error(`synthetic: label must be 0, 1 or 2, got ${label}`);
  for (;;) {
    const s = sentence(rng, label);
    if (s.split(' ').length <= MAX_TOKENS) return s;
  }
}

// Exactly balanced labels (i % 3), shuffled; no sentence repeats within or across splits.
function generateSplit(rng: Rng, n: number, seen: Set<string>): Example[] {
  const out: Example[] = [];
  for (let i = 0; i < n; i++) {
    const label = i % NUM_CLASSES;
    let text = generateSentence(rng, label);
    for (let tries = 0; seen.has(text) && tries < 100; tries++) text = generateSentence(rng, label);
    seen.add(text);
    out.push({ text, label });
  }
  return shuffleInPlace(out, rng);
}

export function generateDataset(seed: number, opts: { train?: number; test?: number } = {}): { train: Example[]; test: Example[] } {
  const nTrain = opts.train ?? 3000;
  const nTest = opts.test ?? 600;
  for (const [k, v] of [['train', nTrain], ['test', nTest]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`generateDataset: ${k} must be a non-negative integer, got ${v}`);
  }
  const seen = new Set<string>();
  // Separate streams: the test set does not change with the size of the train set
  // (except where a test sentence would repeat a train one).
  const train = generateSplit(mulberry32(deriveSeed(seed, 'synthetic/train')), nTrain, seen);
  const test = generateSplit(mulberry32(deriveSeed(seed, 'synthetic/test')), nTest, seen);
  return { train, test };
}

let vocabulary: string[] | undefined;

/** Every token a generated sentence can contain (numbers as NUM_TOKEN), sorted. */
export function builtinVocabulary(): string[] {
  if (!vocabulary) {
    const words = new Set<string>();
    for (const list of registry) {
      for (const p of list) {
        for (const w of p.replace(/\{[\w+-]+\}/g, ' ').split(' ')) if (w) words.add(w);
      }
    }
    vocabulary = [...words].sort();
  }
  return [...vocabulary];
}
