"""A kernel in a language the injector does not know: it echoes each cell, and answers the
cell ``requests?`` with the number of execute requests it was sent, silent ones included."""

from ipykernel.kernelapp import IPKernelApp
from ipykernel.kernelbase import Kernel


class EchoKernel(Kernel):
    implementation = "echo"
    implementation_version = "1.0"
    language = "echo"
    language_version = "1.0"
    language_info = {"name": "echo", "mimetype": "text/plain", "file_extension": ".txt"}
    banner = "Echo kernel"
    requests = 0

    def do_execute(
        self, code, silent, store_history=True, user_expressions=None, allow_stdin=False
    ):
        self.requests += 1
        text = str(self.requests) if code == "requests?" else code
        if not silent:
            self.send_response(self.iopub_socket, "stream", {"name": "stdout", "text": text})
        return {
            "status": "ok",
            "execution_count": self.execution_count,
            "payload": [],
            "user_expressions": {},
        }


if __name__ == "__main__":
    IPKernelApp.launch_instance(kernel_class=EchoKernel)
