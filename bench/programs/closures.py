import functools


def make_adder(k):
    return lambda x: x + k


add3 = make_adder(3)
nums = [i for i in range(1100000)]
mapped = [x * 2 for x in map(add3, nums)]
evens = [x for x in mapped if x % 4 == 0]
total = functools.reduce(lambda acc, x: acc + x, evens, 0)
top = sorted(nums[0:70000], key=functools.cmp_to_key(lambda a, b: (b % 13) - (a % 13)))
counter = 0


def bump():
    global counter
    counter += 1
    return counter


for x in nums:
    if x % 10 == 0:
        bump()
print(total, top[0], counter)
