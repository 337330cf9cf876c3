// Template instantiation bomb: each B<N, M> instantiates two more, and the position M makes every
// one distinct (the compiler cannot reuse an instantiation): 2^40 of them. The compile step must
// end at its own limits (time, memory), never the host's, and never compile.
template <int N, unsigned long long M> struct B {
    static const unsigned long long v = B<N - 1, 2 * M>::v + B<N - 1, 2 * M + 1>::v;
};
template <unsigned long long M> struct B<0, M> {
    static const unsigned long long v = M;
};
int main() { return (int)B<40, 0>::v; }
