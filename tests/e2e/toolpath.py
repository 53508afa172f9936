"""Where the end-to-end tests find the test-data tools of tests/tools
(pcaplib.py, resegment.py, gen-edge-captures.py, pcap2seed.py, ...).

Importing this module puts tests/tools on sys.path once, so a test then
writes ``import pcaplib`` or ``import resegment`` as for any module.
run_e2e.py imports it before it loads the tests (ctx.tools is TOOLS); a test
module that imports a tool imports toolpath first, as it imports smtpfields.

    TOOLS        the folder tests/tools
    path(NAME)   a tool's file, to run it: path('resegment.py')
    load(NAME)   a tool whose file name is not a module name, imported once:
                 load('gen-edge-captures.py')
"""
import importlib.util
import os
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TOOLS = os.path.join(REPO, 'tests', 'tools')

if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)


def path(name):
    """The file of tests/tools/NAME."""
    return os.path.join(TOOLS, name)


# run_e2e.py runs tests on several threads: two tests loading the same tool
# at once must not see it half executed (it is in sys.modules before its
# code has run), so loading is one at a time (re-entrant: a tool may load
# another)
_loading = threading.RLock()


def load(name):
    """The module of tests/tools/NAME ('gen-edge-captures.py'), imported
    once under the name with '-' as '_' and without '.py'."""
    modname = os.path.splitext(name)[0].replace('-', '_')
    with _loading:
        mod = sys.modules.get(modname)
        if mod is None:
            spec = importlib.util.spec_from_file_location(modname, path(name))
            mod = importlib.util.module_from_spec(spec)
            sys.modules[modname] = mod
            try:
                spec.loader.exec_module(mod)
            except BaseException:
                del sys.modules[modname]
                raise
    return mod
