// Template instantiation bomb: the compile step hits its own limits, not the host's.
template <int N, int M> struct B {
    static const long v = B<N - 1, M>::v + B<N - 1, M + 1>::v;
};
template <int M> struct B<0, M> { static const long v = M; };
int main() { return (int)B<40, 0>::v; }
