# mtl-book: the two commands a fresh machine needs are `make book` and `make test`.
# Everything else (the .venv and its packages) is installed by the scripts.
SHELL   := /bin/bash
PROFILE ?= quick

.PHONY: book book-force test notebooks browser-test tag linkcheck clean

book:  ## execute the notebooks at $(PROFILE) in parallel and build the HTML book in _build/html (strict)
	bash scripts/build_book.sh $(PROFILE)

book-force:  ## like `book`, but re-execute every notebook (sweeps still resume from _build/results)
	bash scripts/build_book.sh $(PROFILE) --force

test:  ## unit tests + nbval over every notebook (smoke profile)
	bash scripts/test.sh

notebooks:  ## write notebooks/*.ipynb from the committed text notebooks notebooks/*.md (book and test do this too)
	bash scripts/ensure_env.sh
	.venv/bin/python scripts/sync_notebooks.py

browser-test:  ## build the smoke book into _build/smoke and open every page in headless Chromium
	bash scripts/build_book.sh smoke --out _build/smoke
	MTL_BOOK_BUILD=_build/smoke .venv/bin/python -m pytest tests/book -q -p no:cacheprovider

tag:  ## (re-)tag the notebooks' plumbing cells (parameters, imports) so pages hide them
	.venv/bin/python scripts/tag_notebooks.py

linkcheck:  ## offline check of every internal link, anchor and image of _build/html
	.venv/bin/python scripts/check_links.py _build/html

clean:  ## remove build outputs and cached results (keeps .venv)
	rm -rf _build
