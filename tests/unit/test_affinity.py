"""Which cores a child runs on: timed sections always on the first N, untimed work on the group the
parent chose (pipeline/affinity.py)."""

from edgebench.pipeline import affinity


def test_timed_sections_use_the_first_cores_and_untimed_work_the_chosen_group():
    cores = [0, 1, 2, 3]
    assert affinity.choose(cores, 1, 0) == ([0], [0])
    assert affinity.choose(cores, 1, 3) == ([3], [0])
    assert affinity.choose(cores, 2, 1) == ([2, 3], [0, 1])
    assert affinity.choose(cores, 1, 5) == ([1], [0])  # slots wrap around
    # A child using every core (or no thread count) is not pinned at all.
    assert affinity.choose(cores, 4, 1) is None and affinity.choose(cores, 0, 0) is None
    # Only the cores this process may use (taskset, cgroups) are handed out.
    assert affinity.choose([2, 5], 1, 1) == ([5], [2])


def test_slots_go_to_the_least_used_group_and_come_back(monkeypatch):
    monkeypatch.setattr(affinity, "_ALLOWED", [0, 1])
    slots = affinity.Slots()
    a, b = slots.take(1), slots.take(1)
    assert (a, b) == (0, 1)  # two single-threaded tasks at once: one core each
    assert slots.take(1) == 0  # a third shares the lowest of the least used
    slots.give(1, 1)
    assert slots.take(1) == 1  # core 1 is free again
    assert slots.take(2) == 0  # two threads on two cores: one group, not pinned
