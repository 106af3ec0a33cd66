#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks an exflow HTML report (the file, or the DOM Chromium dumped from it).

  check_dom.py HTML ALERTS [TEXT...]

Passes when the page holds exactly ALERTS alert cards, each with exactly one timeline SVG,
no <script> element and no external resource, and when every TEXT appears in the page as
text (not markup). Prints what failed and exits 1 otherwise.
"""
import sys
from html.parser import HTMLParser


class Report(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.cards = []          # timeline count per card
        self.depth = 0           # <section> nesting inside the current card
        self.scripts = 0
        self.external = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get('class') or '').split()
        if tag == 'script':
            self.scripts += 1
        for name in ('src', 'href'):
            if attrs.get(name):
                self.external.append('%s %s=%s' % (tag, name, attrs[name]))
        if tag == 'section':
            if self.depth == 0 and 'card' in classes:
                self.cards.append(0)
                self.depth = 1
            elif self.depth > 0:
                self.depth += 1
        if tag == 'svg' and 'timeline' in classes and self.depth > 0:
            self.cards[-1] += 1

    def handle_endtag(self, tag):
        if tag == 'section' and self.depth > 0:
            self.depth -= 1

    def handle_data(self, data):
        self.text.append(data)


def main(argv):
    html, alerts, texts = argv[1], int(argv[2]), argv[3:]
    page = Report()
    page.feed(open(html, encoding='utf-8').read())
    problems = []
    if len(page.cards) != alerts:
        problems.append('%d alert cards, wanted %d' % (len(page.cards), alerts))
    bad = [i + 1 for i, n in enumerate(page.cards) if n != 1]
    if bad:
        problems.append('cards without exactly one timeline: %s' % bad)
    if page.scripts:
        problems.append('%d <script> elements' % page.scripts)
    if page.external:
        problems.append('external references: %s' % page.external[:3])
    text = ''.join(page.text)
    for wanted in texts:
        if wanted not in text:
            problems.append('text missing: %r' % wanted)
    for problem in problems:
        print('  ' + problem)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
