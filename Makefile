# mtl-book: the two commands a fresh machine needs are `make book` and `make test`.
# Everything else (the .venv and its packages) is installed by the scripts.
SHELL   := /bin/bash
PROFILE ?= quick

.PHONY: book test clean

book:  ## execute every notebook at $(PROFILE) and build the HTML book in _build/html
	bash scripts/build_book.sh $(PROFILE)

test:  ## unit tests + nbval over every notebook (smoke profile)
	bash scripts/test.sh

clean:  ## remove build outputs and cached results (keeps .venv)
	rm -rf _build
