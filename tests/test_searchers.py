"""Searchers: registry, seeding, and the mechanics of regularised evolution."""

from __future__ import annotations

import pytest

import search_spaces
from archsearch import searchers


@pytest.fixture(scope="module")
def space():
    return search_spaces.create("nb201")


def test_registry_names_and_unknown(space):
    assert searchers.list() == ["evolution", "random"]
    with pytest.raises(ValueError, match="unknown searcher 'bayes'; valid names: evolution, random"):
        searchers.create("bayes", space)


def test_unknown_option_is_rejected(space):
    with pytest.raises(ValueError, match="unknown option.*'population'.*population_size"):
        searchers.create("evolution", space, population=10)


@pytest.mark.parametrize("name", ["random", "evolution"])
def test_same_seed_same_proposals(space, name):
    def proposals(seed):
        searcher = searchers.create(name, space, seed=seed)
        result = []
        for index in range(60):
            arch = searcher.ask()
            searcher.tell(arch, float(index % 7))
            result.append(arch)
        return result

    assert proposals(1) == proposals(1)
    assert proposals(1) != proposals(2)


def test_evolution_validates_sizes(space):
    with pytest.raises(ValueError, match="sample_size \\(9\\) must not exceed population_size \\(4\\)"):
        searchers.create("evolution", space, population_size=4, sample_size=9)
    with pytest.raises(ValueError, match="population_size must be a positive integer, got 0"):
        searchers.create("evolution", space, population_size=0)


def test_evolution_mutates_best_of_tournament(space):
    searcher = searchers.create("evolution", space, seed=0, population_size=5, sample_size=5)
    members = [searcher.ask() for _ in range(5)]
    for value, arch in enumerate(members):
        searcher.tell(arch, float(value))
    best = members[-1]
    for _ in range(20):
        child = searcher.ask()
        assert sum(a != b for a, b in zip(child, best)) == 1


def test_evolution_removes_oldest(space):
    searcher = searchers.create("evolution", space, seed=0, population_size=3, sample_size=2)
    archs = [searcher.ask() for _ in range(3)]
    for arch in archs:
        searcher.tell(arch, 1.0)
    newcomer = space.sample(searcher.rng)
    searcher.tell(newcomer, 0.5)
    population = [arch for arch, _ in searcher.population]
    assert population == archs[1:] + [newcomer]


def test_evolution_ignores_failures(space):
    searcher = searchers.create("evolution", space, seed=0, population_size=3, sample_size=2)
    for _ in range(10):
        searcher.tell(searcher.ask(), None)
    assert len(searcher.population) == 0


def test_evolution_mutates_repeat_again(space):
    searcher = searchers.create("evolution", space, seed=0, population_size=5, sample_size=5)
    members = [searcher.ask() for _ in range(5)]
    for value, arch in enumerate(members):
        searcher.tell(arch, float(value))
    before = list(searcher.population)
    searcher.tell(members[0], 0.0)
    assert list(searcher.population) == before
    child = searcher.ask()
    assert sum(a != b for a, b in zip(child, members[0])) == 1
