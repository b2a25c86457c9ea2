"""Every number the prose states, checked against the committed file it cites (tests/test_numbers.py
runs it on README.md, docs/results.md and every results/*/README.md, with its allow-list).

The rules, in order:

1. **Blocks.** A document is read block by block: a paragraph, a list item or a table. Code (fenced or
   indented), headings, images and the generated block between `<!-- findings` and `<!-- end` are
   not prose and are skipped.
2. **Citations.** A block cites every committed file or folder it names: a markdown link, or a path
   in backticks or in the text (`results/<run>/table.md`, `docs/benchmarks.md#a-section`, a folder
   `results/<run>/`, a notebook or a .py file). A link with an anchor cites that section only (a
   broken anchor cites nothing); a folder cites the .md files directly in it (a JSON file is cited by
   its name only: it holds so many numbers that it would vouch for almost any). A block that cites
   nothing cites what its lead cites: the nearest paragraph above it in its section that cites
   something (a table's or a list's introduction). A results folder's README also cites the other
   .md files of its folder. A document never cites itself.
3. **Numbers.** A number is a run of digits (1,000 / 0.92 / -0.04 / 1e-4 / 98.8 % / 2.13x) that is not
   part of a name: digits glued to a letter (bf16, E13, seed0, DDIM-20, f7), dates (2026-12-01),
   versions (2.14.1), a numbered list's markers and anything inside code, a link target or a path
   are not numbers.
4. **Holding.** A cited file *holds* a number when it states a value that rounds to it at the digits
   written: a text file's own numbers, a JSON file's numeric leaves, and for a JSON list of numbers
   or a {seed: {...}} group their mean and mean ± sd (sample sd). Pairs "a ± b" and intervals
   "e [lo, hi]" must be held as a whole (the same pair or triple in one place). "98.8 %" is held by
   98.8 or by 0.988; "N min" also by N x 60 seconds; "Nx" by N, or by the ratio of two other numbers
   of the same block that are held themselves ("1.27x slower: 235.3 ms against 185.7 ms").
5. **Otherwise** the number must be covered by an entry (pattern, reason, files) of the caller's
   allow-list: the pattern ({n} stands for a number) matched on the prose around it, and, where the
   entry names files (the code's defaults), those files must hold it. Anything else is reported.
"""
import json
import os
import re
import statistics
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_NUM = re.compile(r"""
    (?:(?:(?<=[\s(\[/:;,=~*|])|^)(?P<sign>[+\-−]))?    # a sign only after a space or an opening mark
    (?<![A-Za-z]-)(?<![A-Za-z]−)(?<![\w.])              # not the tail of a name (DDIM-20, x86, 1.2.3)
    (?P<digits>\d{1,3}(?:,\d{3})+|\d+)(?P<frac>\.\d+)?(?P<exp>e-?\d+)?
    (?P<suffix>\s?%|x(?![\w]))?
    (?![\w])(?!\.\d)                                    # not glued to a letter (bf16 ...) or a version
""", re.VERBOSE)
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_PATH = re.compile(r"(?<![\w/.-])(?:\.\./)*(?:results|docs|harness|metrics|unlearn|attack|ddpm|tools|weights|tests)"
                   r"/[\w./%+#-]*[\w/#-]")
_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]+)\)")
_CODE = re.compile(r"`([^`]*)`")
_BARE_FILE = re.compile(r"(?<![\w/.-])[\w%+-]+\.(?:md|json)\b")


@dataclass
class Number:
    """One number as written: its value, its decimals (the precision it claims) and where it sits."""
    text: str
    value: float
    decimals: int
    suffix: str
    start: int
    end: int
    signed: bool = False

    def rounds(self, v: float) -> bool:
        """Whether the file value `v` shows as this number at its written precision (an unsigned
        positive number also stands for a negative value's size)."""
        if not self.signed and self.value >= 0:
            v = abs(v)
        if self.suffix == "e":
            return abs(v - self.value) <= 1e-9 * max(1.0, abs(self.value))
        return abs(v - self.value) <= 0.5 * 10 ** -self.decimals + 1e-9


def numbers(text: str) -> list[Number]:
    """The numbers of a stretch of prose, in order (see rule 3)."""
    out = []
    for m in _NUM.finditer(text):
        sign = "-" if m["sign"] and m["sign"] in "-−" else ""
        body = m["digits"].replace(",", "") + (m["frac"] or "") + (m["exp"] or "")
        suffix = "e" if m["exp"] else (m["suffix"] or "").strip()
        decimals = len(m["frac"]) - 1 if m["frac"] else 0
        out.append(Number(m.group(0), float(sign + body), decimals, suffix, m.start(), m.end(), bool(m["sign"])))
    return out


@dataclass
class Pool:
    """What a set of cited files holds: single values, (value, sd) pairs and (effect, lo, hi) triples,
    and for a markdown table's rows, what each row holds (rows: {first cell: Pool})."""
    singles: list = field(default_factory=list)
    pairs: list = field(default_factory=list)
    triples: list = field(default_factory=list)
    rows: dict = field(default_factory=dict)

    def add(self, other: "Pool") -> None:
        """Take in what `other` holds too."""
        self.singles += other.singles
        self.pairs += other.pairs
        self.triples += other.triples
        for name, row in other.rows.items():
            self.rows.setdefault(name, Pool()).add(row)

    def holds(self, n: Number) -> bool:
        """Rule 4 for one number standing alone."""
        return any(n.rounds(v) for v in self.singles) or (
            n.suffix == "%" and any(n.rounds(100 * v) for v in self.singles if abs(v) <= 1))

    def holds_group(self, group: list[Number]) -> bool:
        """Rule 4 for a pair or a triple: the same group of values in one place of one file."""
        rows = self.pairs if len(group) == 2 else self.triples
        return any(all(n.rounds(v) for n, v in zip(group, row)) for row in rows)


def groups(text: str, nums: list[Number]) -> list[list[Number]]:
    """The numbers of `text` grouped as written: 'a ± b', 'e [lo, hi]', or one number alone."""
    out, i = [], 0
    while i < len(nums):
        gap = lambda a, b: text[nums[a].end:nums[b].start]      # noqa: E731 (the text between two numbers)
        if i + 2 < len(nums) and gap(i, i + 1).strip() == "[" and gap(i + 1, i + 2).strip() == ",":
            out.append(nums[i:i + 3])
            i += 3
        elif i + 1 < len(nums) and gap(i, i + 1).strip() == "±":
            out.append(nums[i:i + 2])
            i += 2
        else:
            out.append([nums[i]])
            i += 1
    return out


def pool_of_text(text: str, by_row: bool = True) -> Pool:
    """What a markdown (or code) file holds: every number, pair and triple it writes, and what each
    table row holds, under the row's name."""
    text = _DATE.sub(" ", text)
    nums = numbers(text)
    pool = Pool(singles=[n.value for n in nums])
    for g in groups(text, nums):
        (pool.pairs if len(g) == 2 else pool.triples if len(g) == 3 else []).append(tuple(n.value for n in g))
    lines = text.split("\n") + [""]
    for line, below in zip(lines, lines[1:]) if by_row else ():
        if line.startswith("|") and row_name(line) and "---" not in below:      # not the header row
            pool.rows.setdefault(row_name(line), Pool()).add(pool_of_text(line, False))
    return pool


def row_name(line: str) -> str:
    """The name of a table row: its first cell that starts with a letter, without emphasis."""
    cells = [c.strip().strip("*").strip() for c in line.strip().strip("|").split("|")]
    return next((c for c in cells if c[:1].isalpha()), "")


def _is_number(v) -> bool:
    """An int or a float, not a bool."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def pool_of_json(data, pool: Pool | None = None) -> Pool:
    """What a JSON file holds: its numeric leaves, and the mean and mean ± sd of every list of numbers
    and of every metric shared by a group of seeds ({"0": {...}, "1": {...}})."""
    pool = Pool() if pool is None else pool
    if _is_number(data):
        pool.singles.append(float(data))
    seeds = [v for k, v in data.items() if k.isdigit() and isinstance(v, dict)] if isinstance(data, dict) else []
    keys = set.intersection(*(set(s) for s in seeds)) if len(seeds) >= 2 else set()
    series = [[s[k] for s in seeds] for k in sorted(keys)] + ([data] if isinstance(data, list) else [])
    for values in series:
        if len(values) >= 2 and all(_is_number(v) for v in values):
            mean = statistics.mean(values)
            pool.singles.append(mean)
            pool.pairs.append((mean, statistics.stdev(values)))
    for child in data.values() if isinstance(data, dict) else data if isinstance(data, list) else ():
        pool_of_json(child, pool)
    return pool


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def section(text: str, anchor: str) -> str:
    """The part of a markdown file under the heading whose anchor is `anchor` (to the next heading
    of the same or a higher level); the whole text for no anchor, nothing for an anchor not found."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        m = re.match(r"(#+)\s+(.*)", line)
        if m and slug(m[2]) == anchor:
            level, end = len(m[1]), len(lines)
            for j in range(i + 1, len(lines)):
                h = re.match(r"(#+)\s", lines[j])
                if h and len(h[1]) <= level:
                    end = j
                    break
            return "\n".join(lines[i:end])
    return "" if anchor else text


@dataclass
class Block:
    """A paragraph, list item or table ("para", "item", "table"): its lines (number, text) and section."""
    section: str
    kind: str
    lines: list = field(default_factory=list)

    @property
    def text(self) -> str:
        """The block's lines as one text."""
        return "\n".join(t for _, t in self.lines)

    def line_at(self, offset: int) -> int:
        """The document line of a character offset in `text`."""
        for no, t in self.lines:
            if offset <= len(t):
                return no
            offset -= len(t) + 1
        return self.lines[-1][0]


def blocks(text: str) -> list[Block]:
    """The prose blocks of a markdown document (rule 1)."""
    out, current, section, fenced, generated, prev = [], None, "", False, False, ""
    for no, line in enumerate(text.split("\n"), 1):
        starts_item = re.match(r"\s*(?:[-*]|\d+\.)\s", line) is not None
        is_table = line.lstrip().startswith("|")
        if line.strip().startswith("```"):
            fenced = not fenced
        if "<!-- findings" in line or "<!-- end" in line:
            generated = "<!-- findings" in line
        code = fenced or line.strip().startswith("```") or (line.startswith("    ") and current is None
                                                             and not starts_item)
        if code or generated or not line.strip() or line.startswith("#") or line.startswith("!["):
            current = None
            section = line.lstrip("#").strip() if line.startswith("#") else section
        else:
            if current is None or starts_item or is_table != prev.lstrip().startswith("|"):
                current = Block(section, "table" if is_table else "item" if starts_item else "para")
                out.append(current)
            current.lines.append((no, line))
        prev = line
    return out


def _resolve(target: str, here: str) -> tuple | None:
    """(path, anchor) of a cited file or folder, relative to the document's folder or the root."""
    path, _, anchor = target.partition("#")
    for base in (here, ROOT):
        full = os.path.normpath(os.path.join(base, path))
        if path and os.path.exists(full):
            return full, anchor
    return None


def citations(block: Block, doc: str) -> list[tuple]:
    """Every (file, anchor) the block names (rule 2), a folder expanded to its .md files."""
    here, text, found = os.path.dirname(doc), block.text, []
    targets = [m[2] for m in _LINK.finditer(text)] + [c for c in _CODE.findall(text) if " " not in c.strip()]
    targets += _PATH.findall(_LINK.sub(" ", text)) + _BARE_FILE.findall(text)
    for target in targets:
        hit = _resolve(target.strip("`(").rstrip(".,;:)"), here)
        if hit is None:
            continue
        path, anchor = hit
        files = ([os.path.join(path, f) for f in sorted(os.listdir(path)) if f.endswith(".md")]
                 if os.path.isdir(path) else [path] if path.endswith((".md", ".json", ".py", ".ipynb")) else [])
        found += [(f, anchor) for f in files if f != os.path.abspath(doc)]
    return list(dict.fromkeys(found))


_POOLS: dict = {}


def pool_of(path: str, anchor: str = "") -> Pool:
    """What one cited file (or one section of it) holds, read once."""
    if (path, anchor) not in _POOLS:
        with open(path, encoding="utf-8") as f:
            _POOLS[path, anchor] = (pool_of_json(json.load(f)) if path.endswith(".json")
                                    else pool_of_text(section(f.read(), anchor)))
    return _POOLS[path, anchor]


def prose(text: str) -> str:
    """`text` with everything that is not prose blanked out (rule 3), offsets kept."""
    blank = lambda m: " " * len(m.group(0))                      # noqa: E731
    text = _LINK.sub(lambda m: "[" + m[1] + "]" + " " * (len(m[2]) + 2), text)
    text = re.sub(r"(?m)^\s*\d+\.\s", blank, text)                # a numbered list's markers
    for pattern in (_CODE, re.compile(r"<!--.*?-->"), _DATE, _PATH, _BARE_FILE,
                    re.compile(r"\b\d+\.\d+\.\d+\b")):
        text = pattern.sub(blank, text)
    return text


NUMBER = r"[+\-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:e-?\d+)?"    # what {n} stands for in an allow-list


def allowed(text: str, n: Number, allow: list) -> str | None:
    """The reason of the first allow-list entry (pattern, reason, files) whose pattern covers `n` in
    `text` and, where it names files, whose files hold `n`; else None."""
    for pattern, reason, files in allow:
        for m in re.finditer(pattern.replace("{n}", NUMBER), text):
            if m.start() <= n.start and n.end <= m.end() and (
                    not files or any(pool_of(os.path.join(ROOT, f)).holds(n) for f in files)):
                return reason
    return None


def _held(pool: Pool, group: list[Number], text: str) -> bool:
    """Rule 4 for a group of numbers, with the minutes-from-seconds reading of 'N min'."""
    if len(group) > 1:
        return pool.holds_group(group)
    n = group[0]
    if pool.holds(n):
        return True
    return text[n.end:n.end + 4].strip().startswith("min") and any(n.rounds(v / 60) for v in pool.singles)


def _a_ratio(n: Number, nums: list[Number], held: list[Number], text: str) -> bool:
    """Whether 'Nx' is the ratio of the two numbers written right after it or right before it, both
    held and set against each other ("1.27x slower (235.3 ms against 185.7 ms)", also "vs", "/")."""
    i = next(k for k, x in enumerate(nums) if x is n)
    ok = {id(x) for x in held}
    for pair in (nums[i + 1:i + 3], nums[max(0, i - 2):i]):
        if n.suffix != "x" or len(pair) != 2 or not all(id(x) in ok and x.value and not x.suffix
                                                           for x in pair):
            continue
        a, b = pair
        joined = re.fullmatch(r"\s*[a-zA-Z/]*\s*(?:against|vs\.?|/)\s*", text[a.end:b.start])
        if joined and (n.rounds(a.value / b.value) or n.rounds(b.value / a.value)):
            return True
    return False


def bound_to(text: str, group: list[Number], names: dict) -> str | None:
    """The table row a group of numbers is stated for: the first cell of the row it sits in, or a
    row's name written right before it ("GA 0.91", "Retrain's 1.2 ± 0.2"; not "DiMUM − SalUn +0.19")
    or right after it ("1.4 ± 0.1 (SalUn)", "0.98 ± 0.00 for ESD"); None when no cited table has
    such a row."""
    start, end = group[0].start, group[-1].end
    line = text[text.rfind("\n", 0, start) + 1:].lstrip()
    if line.startswith("|"):
        return row_name(line) if row_name(line) in names else None
    before = re.search(r"(?<![−-] )\b([\w+\-]+)(?:'s)?[ \t]*[:(]?[ \t]*$", text[max(0, start - 40):start])
    after = re.match(r"\s*(?:\(|for\s+)([\w+\-]+)", text[end:])
    return next((m[1] for m in (before, after) if m and m[1] in names), None)


def check_block(block: Block, cites: list, allow: list, doc: str) -> list[str]:
    """What does not hold in one block: 'doc:line: number is not in ... (its sentence)'."""
    text, pool, not_md = prose(block.text), Pool(), Pool()
    for path, anchor in cites:
        pool.add(pool_of(path, anchor))
        (not_md if not path.endswith(".md") else Pool()).add(pool_of(path, anchor))
    held, loose, nums = [], [], numbers(text)
    for g in groups(text, nums):
        name = bound_to(text, g, pool.rows)              # a number stated for a row: that row must hold it
        where = pool if name is None else Pool()
        if name is not None:
            where.add(pool.rows[name])
            where.add(not_md)
        (held if _held(where, g, text) else loose).append((g, name))
    flat = [n for g, _ in held for n in g]
    cited = ", ".join(sorted({os.path.relpath(p, ROOT) + ("#" + a if a else "") for p, a in cites})) or "nothing"
    problems = []
    for g, name in loose:
        n = next((n for n in g if not (_a_ratio(n, nums, flat, text) or allowed(text, n, allow))), None)
        if n is not None:
            shown = repr(" ".join(x.text.strip() for x in g)) + (f" for row {name!r}" if name else "")
            problems.append(f"{doc}:{block.line_at(n.start)}: {shown} is not in {cited} "
                            f"(…{text[max(0, n.start - 50):n.end + 30].strip()}…)".replace("\n", " "))
    return problems


def check(doc: str, allow: list, text: str | None = None) -> list[str]:
    """Every number of the document `doc` (a path from the root) against its citations (rules 1-5):
    'doc:line: number is not in ...' for each one that neither holds nor is allowed. `text` stands
    for the document's text (a test changes a number)."""
    path = os.path.join(ROOT, doc)
    if text is None:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    extra = []
    if doc.startswith("results/"):                              # a results folder's README: its folder
        folder = os.path.dirname(path)
        extra = [(os.path.join(folder, f), "") for f in sorted(os.listdir(folder))
                 if f.endswith(".md") and os.path.join(folder, f) != path]
    problems, last = [], {}
    for block in blocks(text):
        own = citations(block, path)
        if own and block.kind == "para":
            last[block.section] = own           # a paragraph that cites leads the blocks after it
        cites = own or last.get(block.section, [])
        problems += check_block(block, list(dict.fromkeys(cites + extra)), allow, doc)
    return problems
