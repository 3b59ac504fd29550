// Runs in a page of the built book (tests/book/test_browser.py): waits for MathJax, then
// reports what the assertions need. The last argument is selenium's callback.
const done = arguments[arguments.length - 1];
const ready = (window.MathJax && MathJax.startup && MathJax.startup.promise) || Promise.resolve();

// The text column: the article, whose width the theme sets for the window's width.
const column = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;

function describe(el) {
  const id = el.id ? '#' + el.id : '';
  const cls = el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).slice(0, 2).join('.') : '';
  const head = el.tagName === 'TABLE' ? ' [' + [...el.querySelectorAll('th')].slice(0, 4).map(t => t.textContent.trim()).join(' | ') + ']' : '';
  return el.tagName.toLowerCase() + id + cls + head;
}

// An element sticks out of the column unless a scroll box *inside* the column holds it.
function overflows(el, col) {
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) return false;
  if (r.right <= col.right + 1 && r.left >= col.left - 1) return false;
  for (let p = el.parentElement; p && p !== column; p = p.parentElement) {
    const s = getComputedStyle(p);
    if (/(auto|scroll)/.test(s.overflowX)) {
      const pr = p.getBoundingClientRect();
      return !(pr.right <= col.right + 1 && pr.left >= col.left - 1);
    }
    if (s.overflowX === 'hidden' || s.overflowX === 'clip') return true;  // cut off, not scrollable
  }
  return true;
}

// Visible prose: text nodes outside code, scripts and typeset math, one entry per node.
function proseNodes() {
  const skip = new Set(['PRE', 'CODE', 'SCRIPT', 'STYLE', 'MJX-CONTAINER', 'TEXTAREA', 'NOSCRIPT', 'KBD', 'SAMP']);
  const walker = document.createTreeWalker(document.querySelector('main') || document.body, NodeFilter.SHOW_TEXT);
  const out = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    let p = n.parentElement, hidden = false;
    for (; p; p = p.parentElement) {
      if (skip.has(p.tagName) || p.classList.contains('highlight')) { hidden = true; break; }
    }
    if (!hidden && n.textContent.trim()) out.push(n.textContent);
  }
  return out;
}

ready.then(() => {
  const col = column.getBoundingClientRect();
  const imgs = [...document.images].map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0 && i.naturalHeight > 0}));
  const maths = [...document.querySelectorAll('.math')];
  const untypeset = maths.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 80));
  const tables = [...document.querySelectorAll('table')].map(t => [...t.querySelectorAll('th')].map(th => th.textContent.trim()));
  // rows of every verdict table (a header with "claim" and "verdict" or "this build"): cell texts
  // by column name, and under "_page" the chapter linked just above the table (the front page
  // gathers every chapter's table under a link to it)
  const claimRows = [];
  for (const t of document.querySelectorAll('table')) {
    const head = [...t.querySelectorAll('thead th')].map(th => th.textContent.trim().replace(/\s+/g, ' ').toLowerCase());
    if (!head.includes('claim') || !head.some(h => h.startsWith('verdict') || h.startsWith('this build'))) continue;
    let node = t;
    while (node && !node.previousElementSibling) node = node.parentElement;
    const link = node && node.previousElementSibling && node.previousElementSibling.querySelector('a[href*="notebooks/"]');
    const linked = link ? (link.getAttribute('href').match(/notebooks\/[\w-]+\.html/) || [''])[0] : '';
    for (const tr of t.querySelectorAll('tbody tr')) {
      const cells = [...tr.children].map(td => td.textContent.trim().replace(/\s+/g, ' '));
      const row = Object.fromEntries(head.map((h, k) => [h, cells[k] || '']));
      row._page = linked;
      claimRows.push(row);
    }
  }
  // prose blocks (and a cell's printed text) outside tables and code, for the verdict-word checks
  const blocks = [...(document.querySelector('main') || document.body).querySelectorAll(
      'p, li, dd, figcaption, blockquote, .output.stream pre, .output.text_plain pre')]
    .filter(el => !el.closest('table, .cell_input') && (el.closest('.cell_output') || !el.closest('.highlight')) && !(/^(LI|DD|BLOCKQUOTE)$/.test(el.tagName) && el.querySelector('p')))
    .map(el => el.innerText.replace(/\s+/g, ' ').trim());
  const wide = [...column.querySelectorAll('table, img, pre, mjx-container[display="true"], .cell_output, figure, dl, .highlight, iframe, svg')]
    .filter(el => overflows(el, col)).map(describe);
  // tables that fit only by scrolling their box sideways without a visible hint (a reader misses them)
  const scrolling = [...column.querySelectorAll('table')].filter(t => {
    for (let p = t.parentElement; p && p !== column; p = p.parentElement) {
      // a box that scrolls and does not say so (mtl-book.js marks the ones it saw)
      if (/(auto|scroll)/.test(getComputedStyle(p).overflowX)) return p.scrollWidth > p.clientWidth + 1 && !p.classList.contains('mtl-scrolls');
    }
    return false;
  }).map(describe);
  // figures: notebook outputs and {figure}s, with their caption and how much they were shrunk
  const figures = [...column.querySelectorAll('.cell_output img, figure img')].map(i => {
    const fig = i.closest('figure');
    const cap = fig ? fig.querySelector('figcaption') : null;
    return {src: i.getAttribute('src'), caption: cap ? cap.innerText.trim() : '',
            natural: i.naturalWidth, shown: i.getBoundingClientRect().width};
  });
  const errors = [...document.querySelectorAll('.output.traceback, .output.error, .output.stderr, .stderr')].map(e => e.textContent.slice(0, 200));
  const downloads = [...document.querySelectorAll('a[href$=".ipynb"]')].map(a => a.getAttribute('href'));
  done({imgs, untypeset, downloads, nmath: maths.length, prose: proseNodes(), tables, claimRows, blocks, errors, wide, scrolling, figures,
        column: {left: col.left, right: col.right, width: col.width},
        pageWidth: document.documentElement.scrollWidth, windowWidth: window.innerWidth,
        outputs: [...document.querySelectorAll('.cell_output')].map(o => o.innerText).join('\n'),
        visible: document.body.innerText, mathjax: !!window.MathJax,
        height: Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)});
}).catch(e => done({failure: String(e)}));
