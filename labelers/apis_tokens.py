"""API tokens over REST.

    POST   /api/auth/token/              {"username", "password"} → a new token (no session needed)
    GET    /api/auth/tokens/             the caller's tokens (key prefix, created, expiry)
    POST   /api/auth/tokens/             a new token for the signed-in caller
    DELETE /api/auth/tokens/{key}/       revoke one of the caller's tokens

Failed passwords count towards django-axes' lockout (per account and per address), the same
counter as the login page's; the token endpoint is also throttled per address (API_THROTTLE_TOKEN).
"""
from __future__ import annotations

from django.contrib.auth import authenticate
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from labelers.services.tokens import token_create, token_revoke, tokens_for_user


class TokenOutput(serializers.Serializer):
    key = serializers.CharField(source="token_key", help_text="The token's first characters, to tell it apart.")
    created = serializers.DateTimeField()
    expiry = serializers.DateTimeField(allow_null=True, help_text="null: never lapses.")


class NewTokenOutput(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`. Shown only this once.")
    key = serializers.CharField()
    expiry = serializers.DateTimeField(allow_null=True)


def _new_token(user) -> dict:
    instance, token = token_create(user=user)
    return {"token": token, "key": instance.token_key, "expiry": instance.expiry}


# A new token is in its response only: no cache may keep it (Cache-Control: no-store).
@method_decorator(never_cache, name="dispatch")
class TokenObtainApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "token"

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "TokenObtainInput"

        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})

    @extend_schema(request=InputSerializer, auth=[], responses={
        200: NewTokenOutput, 400: OpenApiResponse(description="Wrong username or password."),
        429: OpenApiResponse(description="Locked out after too many failed passwords, or throttled.")})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # The Django request, so that django-axes records the failure and flags a lockout on it
        # (its middleware answers the locked-out request: core.lockout).
        user = authenticate(request=request._request, **data.validated_data)
        if user is None:
            raise exceptions.ValidationError({"detail": "Unable to log in with these credentials."})
        return Response(NewTokenOutput(_new_token(user)).data)


@method_decorator(never_cache, name="dispatch")
class TokenListApi(APIView):
    @extend_schema(responses=TokenOutput(many=True))
    def get(self, request):
        return Response(TokenOutput(tokens_for_user(user=request.user), many=True).data)

    @extend_schema(request=None, responses={201: NewTokenOutput})
    def post(self, request):
        return Response(NewTokenOutput(_new_token(request.user)).data, status=status.HTTP_201_CREATED)


class TokenRevokeApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request, key: str):
        token_revoke(user=request.user, token_key=key)
        return Response(status=status.HTTP_204_NO_CONTENT)
