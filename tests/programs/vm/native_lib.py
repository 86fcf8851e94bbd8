"""Native modules in Python for the VM tests and ``iree-lab run --module=native_lib.py``.

``lib`` mirrors lib.vmasm (so app.vmasm links against either); ``native``
provides the imports of yields.vmasm: a suspending function, a variadic one
and a void one.
"""

from iree_lab.vm import NativeModule, export
from iree_lab.vm.status import StatusCode, VMStatus


class Lib(NativeModule):
    name = "lib"
    version = 3

    def __init__(self):
        super().__init__()
        self.counter = 0

    @export("0ii_i")
    def add(self, a, b):
        return a + b

    @export("0Ii_Ii")
    def pair(self, a, b):
        return a * b, a

    @export("0i_i")
    def fail(self, code):
        if code:
            raise VMStatus(StatusCode.from_raw(code), "lib failed")
        return code

    @export("0v_i")
    def count(self):
        self.counter += 1
        return self.counter

    @export("0v_v")
    def __init(self):
        self.counter = 100


class Native(NativeModule):
    name = "native"
    version = 1

    def __init__(self):
        super().__init__()
        self.notes = []

    @export("0i_i")
    def slow_double(self, x):
        # Each yield suspends the calling fiber (vm.call.yieldable).
        for _ in range(3):
            yield
        return 2 * x

    @export("0iCiD_i")
    def sum(self, base, values):
        return base + sum(values)

    @export("0i_v")
    def note(self, x):
        self.notes.append(x)
        yield
