"""The admin pages parse the ids in their query strings with a form: "abc", "²" (a digit to
str.isdigit, not a number), a negative or a twenty-digit id answer a 400 naming the parameter,
never a 500; good ids still select."""
import html

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db
BAD = ["abc", "%C2%B2", "-3", "99999999999999999999", "1e5"]


@pytest.mark.parametrize("value", BAD)
@pytest.mark.parametrize("url, parameter", [
    ("/training/generate/?project={}", "project"), ("/training/generate/?job={}", "job"),
    ("/training/playground/?model={}", "model"), ("/rounds/?project={}", "project"),
])
def test_a_bad_id_in_the_query_string_is_a_400_naming_it(client, admin_user, project, url, parameter, value):
    client.force_login(admin_user)
    response = client.get(url.format(value))
    assert response.status_code == 400, response.content
    assert f"The query parameter '{parameter}' is not valid" in html.unescape(response.content.decode())


def test_the_generate_count_refuses_a_bad_project_with_a_sentence(client, admin_user, project):
    client.force_login(admin_user)
    response = client.get("/training/generate/count/?project=%C2%B2&mode=unused")
    assert response.status_code == 200 and "Choose a project and a selection." in response.content.decode()


def test_good_ids_still_select(client, admin_user, project):
    from training.services.registry import model_register

    model = model_register(name="endpoint", backend="openai", location="http://127.0.0.1:9/v1", endpoint_model="m")
    client.force_login(admin_user)
    assert f'<option value="{project.pk}" selected>' in client.get(f"/training/generate/?project={project.pk}").content.decode()
    assert client.get("/training/generate/?job=12345").status_code == 200  # no such job: the form alone
    assert f'value="{model.pk}" selected' in client.get(f"/training/playground/?model={model.pk}").content.decode()
    assert "Start next round of Test project" in client.get(f"/rounds/?project={project.pk}").content.decode()
    assert client.get("/rounds/?project=12345").status_code == 404


def test_a_base_policy_that_is_not_an_id_is_refused_with_a_sentence(client, admin_user, project):
    client.force_login(admin_user)
    response = client.post(f"/rounds/projects/{project.pk}/start/",
                           {"project": project.pk, "method": "dpo", "base_policy": "abc"}, follow=True)
    assert response.status_code == 200 and "Base policy: Select a valid choice." in response.content.decode()


@pytest.mark.parametrize("command", ["export", "labeler_report"])
def test_commands_take_a_superscript_digit_for_a_name_not_an_id(project, command):
    with pytest.raises(CommandError, match="No project"):
        call_command(command, "--project", "²")
