"""The standard-library core of stepml: what keys, manifests, run records and step types are.

Nothing here imports pydantic, pandas, boto3 or any step implementation, so the cloud Lambda handlers embed these
modules as they are (``stepml.cloud.bundle``) and a cached local run stays light.

    params     typed run parameters            plan       PlanInput -> Plan: order and cache keys
    layout     every key and prefix in a store  manifest   the commit record of one step output
    runs       run records and step outcomes    steptypes  the step-type descriptor and registry
    digest     code digests of Python modules   cron       cron expressions and EventBridge's form
"""
