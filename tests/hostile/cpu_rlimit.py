# A process that spends its RLIMIT_CPU gets SIGXCPU from the kernel, whatever backend runs it: the
# verdict is time_limit (a CPU-time limit), never runtime_error. The program lowers its own soft
# limit to one second to get there quickly.
import resource

soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
resource.setrlimit(resource.RLIMIT_CPU, (1, hard))
print("RLIMIT_CPU was", soft, hard, flush=True)
while True:
    pass
