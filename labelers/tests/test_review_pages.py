"""The review page shows the candidates as the labeler saw them (rendered markdown, their
order, their numbers), and the calibration page never shows one identifiable labeler's answer."""
import re

import pytest

from annotate.services.assignments import task_next_for_labeler
from annotate.services.projects import candidate_create, prompt_create, task_create
from annotate.services.submissions import RankingInput, ranking_submit
from labelers.services import membership_set

pytestmark = pytest.mark.django_db


def _rank(user, project, best_first=True):
    a = task_next_for_labeler(user=user, project=project)
    order = a.shown_order if best_first else list(reversed(a.shown_order))
    return ranking_submit(user=user, assignment_id=a.pk, data=RankingInput(tiers=[[c] for c in order]))


def test_review_shows_rendered_candidates_in_the_labelers_order_and_numbers(client, project, labeler, admin_user):
    project.gold_rate = 0
    project.save()
    prompt = prompt_create(project=project, conversation="Which is **best**?")
    texts = ["Answer *alpha*", "Answer **beta**", "Answer `gamma`", "Answer ~delta~"]
    task_create(project=project, prompt=prompt, kind="ranking",
                candidates=[candidate_create(prompt=prompt, text=t, source="m") for t in texts])
    ranking = _rank(labeler, project)
    client.force_login(admin_user)
    html = client.get(f"/labelers/projects/{project.pk}/review/ranking/{ranking.pk}/").content.decode()
    assert "Which is <strong>best</strong>?" in html
    rendered = {"Answer *alpha*": "Answer <em>alpha</em>", "Answer **beta**": "Answer <strong>beta</strong>",
                "Answer `gamma`": "Answer <code>gamma</code>", "Answer ~delta~": "Answer ~delta~"}
    from annotate.models import Candidate

    shown = [rendered[Candidate.objects.get(pk=cid).text] for cid in ranking.shown_order]
    positions = [html.index(t) for t in shown]
    assert positions == sorted(positions), "in the order the labeler saw them"
    for number, text in enumerate(shown, start=1):
        block = html[html.index(f'id="rc-{number}"'):]
        assert re.match(rf'id="rc-{number}"><span class="num">{number}</span> Response {number} ', block)
        assert text in block[:block.index("</article>")]
        assert f"ranked {number}" in block[:block.index("</article>")]  # they ranked in shown order


@pytest.mark.parametrize("overlap, shown", [(2, False), (3, True)])
def test_calibration_shows_a_consensus_only_of_two_or_more_other_labelers(client, project, labeler, make_user,
                                                                          make_ranking_task, overlap, shown):
    project.submissions_required = overlap
    project.gold_rate = 0
    project.save()
    make_ranking_task(k=3)
    others = [make_user(f"other{i}") for i in range(overlap - 1)]
    for user in others:
        membership_set(project=project, user=user)
        _rank(user, project, best_first=False)
    _rank(labeler, project)
    client.force_login(labeler)
    html = client.get(f"/labelers/projects/{project.pk}/calibration/").content.decode()
    assert ("Consensus of the" in html) is shown
    assert ("their consensus would be their own ranking" in html) is not shown
    api = client.get(f"/api/projects/{project.pk}/calibration/").json()
    assert (api["items"][0]["consensus"] is not None) is shown
    assert (api["summary"]["agreement_with_consensus"] is not None) is shown


def test_resolving_a_missing_alert_on_the_page_is_a_404(client, project, admin_user):
    client.force_login(admin_user)
    response = client.post(f"/labelers/projects/{project.pk}/alerts/987654/resolve/")
    assert response.status_code == 404
