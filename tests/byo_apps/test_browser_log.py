"""Reading Chromium's console log (tests/byo_apps/browser.py): every console message is
found, CSP violations included, whatever form the log line takes; nothing else is."""

import pytest

from .browser import argv, console_messages

LOG = """\
[1:1:1130/120000.100000:WARNING:dns_config_service_linux.cc(429)] Failed to read DnsConfig.
[1:1:1130/120000.200000:INFO:CONSOLE(0)] "Refused to execute inline script because it \
violates the following Content Security Policy directive: "script-src 'self'".", \
source: http://127.0.0.1:18190/ (0)
[1:1:1130/120000.300000:INFO:CONSOLE:3] "Failed to load resource: the server responded \
with a status of 404 (Not Found)", source: http://127.0.0.1:18190/x.js (3)
[1:1:1130/120000.400000:ERROR:CONSOLE(7)] "Uncaught TypeError: x is undefined", source: a (7)
[1:1:1130/120000.500000:INFO:headless_shell.cc(620)] Written to file /tmp/x.
"""


def test_every_console_message_is_read_and_nothing_else():
    messages = console_messages(LOG)
    assert len(messages) == 3
    assert messages[0].startswith('"Refused to execute inline script')
    assert "Content Security Policy" in messages[0]
    assert "404 (Not Found)" in messages[1] and "Uncaught TypeError" in messages[2]


def test_a_quiet_page_has_no_messages():
    assert console_messages(LOG.splitlines()[0] + "\n" + LOG.splitlines()[-1]) == []


def test_only_loopback_pages_are_loaded_and_other_hosts_go_nowhere():
    line = argv("chromium", "http://127.0.0.1:18190/", "/tmp/p", 5000)
    assert line[-2:] == ["--dump-dom", "http://127.0.0.1:18190/"]
    assert "--proxy-server=http://127.0.0.1:9" in line
    with pytest.raises(ValueError, match="loopback pages only"):
        argv("chromium", "https://example.com/", "/tmp/p", 5000)
