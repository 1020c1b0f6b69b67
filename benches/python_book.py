#!/usr/bin/env python3
"""The classic procpool grows from: the prime-checking example of Python's
concurrent.futures, on the same 20 numbers with the same trial division, so
the README's Python figures have a command that reproduces them.

    python3 benches/python_book.py [WORKERS]            the 20 numbers, as the book prints them
    python3 benches/python_book.py WORKERS --small N    jobs/s over 1..=N at chunksize 1000
"""
import concurrent.futures
import math
import sys
import time

NUMBERS = [
    9999999999999999, 9999999999999917, 7777777777777777, 7777777777777753,
    7777777536340681, 6666667141414921, 6666666666666719, 6666666666666666,
    5555555555555555, 5555555555555503, 5555553133149889, 4444444488888889,
    4444444444444444, 4444444444444423, 3333335652092209, 3333333333333333,
    3333333333333301, 299593572317531, 142702110479723, 2,
]


def is_prime(n):
    if n < 2:
        return False
    if n == 2:
        return True
    if n % 2 == 0:
        return False
    for i in range(3, math.isqrt(n) + 1, 2):
        if n % i == 0:
            return False
    return True


def timed(n):
    started = time.perf_counter()
    prime = is_prime(n)
    return n, prime, time.perf_counter() - started


def main():
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    started = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as executor:
        if len(sys.argv) > 3 and sys.argv[2] == "--small":
            count = int(sys.argv[3])
            checked = sum(1 for _ in executor.map(is_prime, range(1, count + 1), chunksize=1000))
            wall = time.perf_counter() - started
            print(f"{checked} numbers with {workers} processes: {wall:.2f}s, {checked / wall:,.0f} jobs/s")
            return
        for n, prime, secs in executor.map(timed, NUMBERS):
            print(f"{n:>16}  {'P' if prime else ' '}  {secs:.6f}s")
    print(f"Total time: {time.perf_counter() - started:.2f}s")


if __name__ == "__main__":
    main()
